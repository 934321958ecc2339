#!/usr/bin/env python3
"""The official Python MCP SDK against `integrations mcp serve --demo`, over stdio and
streamable HTTP. Run by scripts/mcp-python-test; exits non-zero on the first failure.

Usage: test_clients.py PATH_TO_INTEGRATIONS_BINARY
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import asynccontextmanager

import httpx2
import jsonschema
from mcp import ClientSession, StdioServerParameters, stdio_client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug/integrations"
TOKEN = "py-test-token-8c1f0e2d9b7a"
# The demo's provider secrets (integrations_mcp::demo::SECRETS): none may cross the wire.
SECRETS = [
    "lin_api_demo_7f3c9a1e5b2d4f6a8c0e",
    "ghp_demo_4b8d2f6a0c9e1b3d5f7a9c2e4b6d8f0a1c3e",
    "xoxb-demo-1111-2222-Zq8Wm3Kp9Rt5Yv2Xn7Lb",
    "sk-demo-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz",
]
WIRE = []  # every message received, as JSON text
PASSED = []


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def passed(name):
    PASSED.append(name)
    print(f"ok   {name}", flush=True)


def record(model):
    text = model.model_dump_json(by_alias=True) if hasattr(model, "model_dump_json") else json.dumps(model)
    WIRE.append(text)
    return json.loads(text)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Answers stay as the server sent them (the sign-in's 303 carries the cookie)."""

    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(_NoRedirects)
# The approval page's sign-in cookie, by the page's origin.
COOKIES = {}


def http(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def provider_calls(page):
    status, _, body = http("GET", page.replace("/approvals", "/demo/calls"))
    check(status == 200, f"/demo/calls answered {status}")
    return json.loads(body)


def origin_of(url):
    return re.match(r"(http://[^/]+)", url).group(1)


def signed_in_page(errlog_path):
    """The approval page's base URL, once signed in with the link only the operator sees."""
    page, link = wait_for_lines(errlog_path, [r"approval page: (\S+)", r"approval page sign-in[^:]*: (\S+)"])
    status, headers, _ = http("GET", link)
    check(status == 303 and "set-cookie" in headers, f"sign-in answered {status}")
    cookie = headers["set-cookie"]
    check("HttpOnly" in cookie and "SameSite=Strict" in cookie, f"cookie {cookie}")
    COOKIES[origin_of(page)] = cookie.split(";")[0]
    return page


def wait_for_lines(path, patterns, timeout=60):
    """Waits until the server's stderr (in `path`) has a line matching each pattern."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        found = [re.search(p, text) for p in patterns]
        if all(found):
            return [m.group(1) for m in found]
        time.sleep(0.1)
    raise AssertionError(f"the server never printed {patterns}: {text}")


@asynccontextmanager
async def stdio_session(errlog_path, extra_args=(), elicitation=None):
    params = StdioServerParameters(command=BIN, args=["mcp", "serve", "--demo", *extra_args])
    with open(errlog_path, "w", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            kwargs = {"elicitation_callback": elicitation} if elicitation else {}
            async with ClientSession(read, write, **kwargs) as session:
                init = await session.initialize()
                page = signed_in_page(errlog_path)
                yield session, init, page


@asynccontextmanager
async def http_session(url, elicitation=None):
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    async with client:
        async with streamable_http_client(url, http_client=client) as streams:
            read, write = streams[0], streams[1]
            kwargs = {"elicitation_callback": elicitation} if elicitation else {}
            async with ClientSession(read, write, **kwargs) as session:
                init = await session.initialize()
                yield session, init


async def call(session, name, arguments):
    return record(await session.call_tool(name, arguments))


def approval_of(result):
    check(result["isError"] is True, f"not an approval: {result}")
    approval = (result.get("_meta") or {}).get("integrations/approval")
    check(approval and approval.get("id") and approval.get("url"), f"no approval in {result}")
    return approval


def approve(url):
    # The approval URL is all a client (or the agent behind it) gets: it approves nothing.
    status, _, _ = http("POST", url + "/approve", body=b"")
    check(status == 401, f"the approval URL alone answered {status}")
    return http("POST", url + "/approve", body=b"", headers={"Cookie": COOKIES[origin_of(url)]})


async def suite(session, init, page, transport):
    """The checks both transports must pass."""
    init = record(init)
    check(init["protocolVersion"] == "2025-11-25", f"negotiated {init['protocolVersion']}")
    check(init["capabilities"]["tools"].get("listChanged") is True, f"capabilities {init['capabilities']}")
    check(init["serverInfo"]["name"] == "integrations-demo", f"serverInfo {init['serverInfo']}")
    passed(f"{transport}: initialize and capabilities")

    listed = record(await session.list_tools())
    tools = {t["name"]: t for t in listed["tools"]}
    for name in ["linear_list_teams", "linear_create_issue", "github_create_issue", "slack_send_message",
                 "openai_list_models", "integrations_continue_result"]:
        check(name in tools, f"{name} not listed: {sorted(tools)}")
    check("slack_add_reaction" not in tools, "the blocked tool is listed")
    check(tools["linear_list_teams"]["annotations"]["readOnlyHint"] is True, "linear_list_teams not read-only")
    check(tools["slack_send_message"]["annotations"]["readOnlyHint"] is False, "slack_send_message read-only")
    outputs = 0
    for tool in tools.values():
        jsonschema.Draft202012Validator.check_schema(tool["inputSchema"])
        if tool.get("outputSchema"):
            jsonschema.Draft202012Validator.check_schema(tool["outputSchema"])
            outputs += 1
    check(outputs > 0, "no output schema at all")
    passed(f"{transport}: tools/list (names, annotations, 2020-12 schemas); blocked tool absent")

    teams = await call(session, "linear_list_teams", {})
    check(teams["isError"] is False and teams["structuredContent"]["teams"][0]["key"] == "ENG", f"{teams}")
    check(json.loads(teams["content"][0]["text"]) == teams["structuredContent"], "text is not the JSON")
    passed(f"{transport}: a read tool")

    bad = await call(session, "slack_send_message", {"channel": 424242, "text": "value-not-echoed"})
    check(bad["isError"] is True, f"{bad}")
    check("/channel" in bad["content"][0]["text"], f"no field path: {bad}")
    check("424242" not in json.dumps(bad), "the bad value was echoed")
    passed(f"{transport}: bad arguments")

    for name in ["no_such_tool", "slack_add_reaction"]:
        try:
            await session.call_tool(name, {"channel": "C1", "timestamp": "1.2", "name": "eyes"})
            raise AssertionError(f"{name} did not fail")
        except MCPError as e:
            check(e.code == -32602, f"{name}: code {e.code}")
            WIRE.append(str(e))
    passed(f"{transport}: unknown tool and blocked tool refused")

    # ask: approval required, the host approves, the retry gets the one run.
    before = provider_calls(page)["slack_messages"]
    text = f"deploy over {transport}"
    args = {"channel": "C_PLACEHOLDER", "text": text}
    channels = await call(session, "slack_list_channels", {})
    args["channel"] = channels["structuredContent"]["channels"][0]["id"]
    first = approval_of(await call(session, "slack_send_message", args))
    check(first["url"].startswith(page), f"{first['url']} is not on {page}")
    again = approval_of(await call(session, "slack_send_message", args))
    check(again["id"] == first["id"], "a retry made a second request")
    check(provider_calls(page)["slack_messages"] == before, "ran before approval")
    status, _, body = approve(first["url"])
    check(status == 200 and json.loads(body)["result"]["isError"] is False, f"approve: {status} {body}")
    check(provider_calls(page)["slack_messages"] == before + 1, "did not run once on approval")
    status, _, _ = approve(first["url"])
    check(status == 404, f"a replayed approval answered {status}")
    results = await asyncio.gather(*[call(session, "slack_send_message", args) for _ in range(5)])
    done = [r for r in results if r["isError"] is False]
    check(len(done) == 1, f"{len(done)} retries got the result")
    check(done[0]["structuredContent"]["channel"] == args["channel"], f"{done[0]}")
    check(provider_calls(page)["slack_messages"] == before + 1, "a retry ran it again")
    passed(f"{transport}: ask -> approval required -> host approves -> retry runs once (concurrent, replayed)")

    results = await asyncio.gather(*[call(session, "linear_list_teams", {}) for _ in range(20)])
    check(all(r["isError"] is False for r in results), "a concurrent call failed")
    passed(f"{transport}: 20 concurrent calls")

    big = await call(session, "linear_list_issues", {"limit": 50})
    cursor = ((big.get("_meta") or {}).get("integrations/continuation") or {}).get("cursor")
    check(big["isError"] is False and cursor, f"not trimmed: {json.dumps(big)[:300]}")
    more = await call(session, "integrations_continue_result", {"cursor": cursor})
    check(more["isError"] is False, f"continuation failed: {more}")
    passed(f"{transport}: a continued large result")


async def url_mode_and_forged_accept(make_session, page, transport):
    """A client with URL-mode elicitation that accepts everything: -32042, never runs
    without the host; then the host approves and the retry runs once."""
    asked = []

    async def accept_everything(context, params):
        asked.append(params)
        return types.ElicitResult(action="accept", content={})

    async with make_session(accept_everything) as (session, *_):
        channels = await call(session, "slack_list_channels", {})
        args = {"channel": channels["structuredContent"]["channels"][0]["id"], "text": f"forged {transport}"}
        before = provider_calls(page)["slack_messages"]
        url = None
        for _ in range(3):
            try:
                await session.call_tool("slack_send_message", args)
                raise AssertionError("an ask tool ran on the client's say-so")
            except MCPError as e:
                check(e.code == -32042, f"code {e.code}")
                WIRE.append(str(e.error.model_dump_json()))
                url = e.error.data["elicitations"][0]["url"]
                check(url.startswith(page), url)
        check(not asked, "the server asked the client to approve")
        check(provider_calls(page)["slack_messages"] == before, "ran without the host's approval")
        passed(f"{transport}: a client accepting every elicitation cannot run an ask tool")
        status, _, _ = approve(url)
        check(status == 200, f"approve answered {status}")
        done = await call(session, "slack_send_message", args)
        check(done["isError"] is False, f"{done}")
        check(provider_calls(page)["slack_messages"] == before + 1, "did not run exactly once")
        passed(f"{transport}: URL-mode elicitation -> host approves -> retry runs once")


async def modern_revision(errlog):
    """A 2026-07-28 client (the SDK's `Client` probes `server/discover`; no `initialize`):
    a read, then an `ask` tool answered `input_required` with the approval page; the
    client's `accept` of it runs nothing, the host's approval runs it once."""
    from mcp import Client

    asked = []

    async def accept_everything(context, params):
        asked.append(params)
        return types.ElicitResult(action="accept", content={})

    params = StdioServerParameters(command=BIN, args=["mcp", "serve", "--demo"])
    with open(errlog, "w", encoding="utf-8") as err:
        async with Client(stdio_client(params, errlog=err), mode="auto",
                          elicitation_callback=accept_everything) as client:
            page = signed_in_page(errlog)
            session = client.session
            check(session.protocol_version == "2026-07-28", f"negotiated {session.protocol_version}")
            teams = record(await client.call_tool("linear_list_teams", {}))
            check(teams["isError"] is False and teams["structuredContent"]["teams"][0]["key"] == "ENG", f"{teams}")
            passed("2026-07-28: discover, then a read tool")

            channels = record(await client.call_tool("slack_list_channels", {}))
            args = {"channel": channels["structuredContent"]["channels"][0]["id"], "text": "modern"}
            before = provider_calls(page)["slack_messages"]
            first = record(await session.call_tool("slack_send_message", args, allow_input_required=True))
            check(first.get("resultType") == "input_required", f"{first}")
            request = first["inputRequests"]["approval"]
            check(request["params"]["mode"] == "url", f"{request}")
            url = request["params"]["url"]
            check(url.startswith(page), f"{url} is not on {page}")
            state = first["requestState"]
            forged = record(await session.call_tool(
                "slack_send_message", args, input_responses={"approval": {"action": "accept"}},
                request_state=state, allow_input_required=True))
            check(forged.get("resultType") == "input_required", f"a forged accept ran it: {forged}")
            check(provider_calls(page)["slack_messages"] == before, "ran without the host's approval")
            passed("2026-07-28: input_required with the approval page; a client's accept runs nothing")
            status, _, _ = approve(url)
            check(status == 200, f"approve answered {status}")
            check(provider_calls(page)["slack_messages"] == before + 1, "did not run once on approval")
            done = record(await client.call_tool("slack_send_message", args))
            check(done["isError"] is False, f"{done}")
            check(provider_calls(page)["slack_messages"] == before + 1, "the retry ran it again")
            passed("2026-07-28: the host approves, the retry receives the one run")


def usage_errors():
    for args, code in [
        (["--database-url", "sqlite:///nonexistent/records.db"], "mcp.tenant_required"),
        ([], "mcp.nothing_to_serve"),
        (["--demo", "--http", "127.0.0.1:0", "--trust-client-approvals"], "mcp.trust_over_http"),
        (["--demo", "--approval-addr", "0.0.0.0:0"], "mcp.approval_addr_not_loopback"),
    ]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SEALING_KEY")}
        out = subprocess.run([BIN, "mcp", "serve", *args], capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL, env=env)
        check(out.returncode == 2, f"{args}: exit {out.returncode}")
        check(out.stderr.startswith(code + " "), f"{args}: {out.stderr}")
    passed("cli: usage errors have stable codes")


async def main():
    tmp = tempfile.mkdtemp(prefix="mcp-py-")
    usage_errors()

    # stdio
    errlog = os.path.join(tmp, "stdio.err")
    async with stdio_session(errlog) as (session, init, page):
        await suite(session, init, page, "stdio")
    stdio_errs = [errlog]

    errlog2 = os.path.join(tmp, "stdio-url.err")
    stdio_errs.append(errlog2)

    async def stdio_url():
        asked = []

        async def accept_everything(context, params):
            asked.append(params)
            return types.ElicitResult(action="accept", content={})

        async with stdio_session(errlog2, elicitation=accept_everything) as (session, _, page):

            @asynccontextmanager
            async def reuse(_elicitation):
                yield (session,)

            await url_mode_and_forged_accept(reuse, page, "stdio")
            check(not asked, "the server asked the stdio client")

    await stdio_url()

    # The opt-in local trust mode: the client's accept counts.
    errlog3 = os.path.join(tmp, "stdio-trust.err")
    asked = []

    async def accept(context, params):
        asked.append(params.mode if hasattr(params, "mode") else "form")
        return types.ElicitResult(action="accept", content={})

    # A form-only client: declare the callback, the SDK advertises form and url; trust mode
    # asks in form mode whenever the client has form.
    async with stdio_session(errlog3, ["--trust-client-approvals"], elicitation=accept) as (session, _, page):
        channels = await call(session, "slack_list_channels", {})
        args = {"channel": channels["structuredContent"]["channels"][0]["id"], "text": "trusted"}
        before = provider_calls(page)["slack_messages"]
        done = await call(session, "slack_send_message", args)
        check(done["isError"] is False, f"{done}")
        check(len(asked) == 1, f"asked {len(asked)} times")
        check(provider_calls(page)["slack_messages"] == before + 1, "did not run once")
    stdio_errs.append(errlog3)
    passed("stdio: the opt-in trust mode takes the client's form accept")

    errlog5 = os.path.join(tmp, "stdio-2026.err")
    await modern_revision(errlog5)
    stdio_errs.append(errlog5)

    # streamable HTTP
    errlog4 = os.path.join(tmp, "http.err")
    env = dict(os.environ, INTEGRATIONS_MCP_TOKEN=TOKEN)
    with open(errlog4, "w", encoding="utf-8") as err:
        server = subprocess.Popen([BIN, "mcp", "serve", "--demo", "--http", "127.0.0.1:0"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        (url,) = wait_for_lines(errlog4, [r"serving MCP at (\S+)"])
        page = signed_in_page(errlog4)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        status, response_headers, _ = http("POST", url, body, headers)
        check(status == 401, f"no token: {status}")
        check(response_headers.get("www-authenticate") == "Bearer", f"{response_headers}")
        status, _, _ = http("POST", url, body, dict(headers, Authorization="Bearer wrong"))
        check(status == 401, f"wrong token: {status}")
        status, _, _ = http("POST", url, body, dict(headers, Authorization=f"Bearer {TOKEN}",
                                                    Origin="http://evil.example"))
        check(status == 403, f"wrong Origin: {status}")
        passed("http: no token -> 401, wrong token -> 401, wrong Origin -> 403")

        async with http_session(url) as (session, init):
            await suite(session, init, page, "http")

        @asynccontextmanager
        async def http_with(elicitation):
            async with http_session(url, elicitation) as (session, init):
                yield session, init

        await url_mode_and_forged_accept(http_with, page, "http")
    finally:
        server.terminate()
        server.wait(timeout=10)

    logs = "".join(open(p, encoding="utf-8", errors="replace").read() for p in [*stdio_errs, errlog4])
    for secret in SECRETS:
        check(all(secret not in w for w in WIRE), "a secret crossed the wire")
        check(secret not in logs, "a secret reached the server's log")
    passed(f"no secret in {len(WIRE)} messages or the server logs")
    print(f"\n{len(PASSED)} checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
