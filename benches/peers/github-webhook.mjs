// Verify + parse a GitHub delivery the way a Node service does with Octokit:
// `@octokit/webhooks-methods` `verify` (HMAC-SHA256 through node:crypto, constant-time
// compare) and `JSON.parse`. Prints the median time of one delivery in microseconds as
// JSON: {"median_us": ..., "bytes": ...}.
//
//   node github-webhook.mjs PAYLOAD.json
import { readFileSync } from "node:fs";
import { sign, verify } from "@octokit/webhooks-methods";

const SECRET = "It's a Secret to Everybody";
// Compact, as GitHub sends it and as benches/webhook.rs measures it (same bytes).
const payload = JSON.stringify(JSON.parse(readFileSync(process.argv[2], "utf8")));
const signature = await sign(SECRET, payload);

async function once() {
  if (!(await verify(SECRET, payload, signature))) throw new Error("signature mismatch");
  const event = JSON.parse(payload);
  if (!event.action) throw new Error("not an event");
}

const BATCH = 200;
for (let i = 0; i < 20 * BATCH; i++) await once(); // warm up the JIT

const samples = [];
for (let s = 0; s < 60; s++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < BATCH; i++) await once();
  samples.push(Number(process.hrtime.bigint() - start) / 1000 / BATCH);
}
samples.sort((a, b) => a - b);
console.log(
  JSON.stringify({ median_us: samples[samples.length >> 1], bytes: Buffer.byteLength(payload) }),
);
