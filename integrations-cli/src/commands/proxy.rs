//! `integrations proxy`: run the egress proxy; `integrations proxy ca`: generate the CA
//! pair a sandbox image trusts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use integrations_core::auth::TokenManager;
use integrations_core::egress::{GrantKey, GrantKeys};
use integrations_core::host::{Host, ReqwestHttpClient};
use integrations_core::plan::CompiledRuntimePlan;
use integrations_core::{Error, Secret};
use integrations_proxy::{CertificateAuthority, Proxy, ProxyConfig, UpstreamOverride};

use crate::commands::stores::StoreArgs;
use crate::io;

#[cfg(feature = "demo")]
/// The demo's sandbox profile: one agent binding with an OpenAI key.
const DEMO_PROFILE: &str = r#"{
  "tenant": "demo", "profile": "proxy-demo", "version": 1,
  "targets": [{"id": "openai", "key": "openai::openai-default"}],
  "connections": [{"id": "openai-key", "target": "openai", "method": "api-key"}],
  "bindings": [{"id": "agent", "kind": "agent", "connection": "openai-key",
                "config": {"runtime": "codex-cli", "model": "gpt-5-codex"}}]
}"#;

#[cfg(feature = "demo")]
/// The key the demo stores; the sandbox never sees it.
const DEMO_KEY: &str = "sk-demo-held-by-the-proxy-only-0123456789";

/// Run the egress proxy: a forward proxy that authenticates sandboxes by their egress
/// grant (sent as proxy credentials), intercepts TLS for the plan's routes only and
/// injects the credentials the sandbox never holds.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ProxyArgs {
    #[command(subcommand)]
    command: Option<ProxyCommand>,
    /// The compiled plan JSON file (`integrations compile` output).
    #[arg(long, value_name = "PLAN.json")]
    plan: Option<PathBuf>,
    /// The address to listen on (port 0 picks one; the chosen one is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The interception CA certificate (PEM).
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// The interception CA private key (PEM).
    #[arg(long, value_name = "PEM")]
    ca_key: Option<PathBuf>,
    /// Where connections and credentials live (`--database-url`, the sealing key).
    #[command(flatten)]
    store: StoreArgs,
    /// The environment variable holding the grant signing key (at least 32 bytes).
    #[arg(long, value_name = "VAR")]
    grant_key_env: Option<String>,
    /// The id of the grant signing key.
    #[arg(long, value_name = "ID", default_value = "default")]
    grant_key_id: String,
    /// A host the sandbox may reach through a blind tunnel, without a credential
    /// (repeatable). Other hosts without a route are refused.
    #[arg(long, value_name = "HOST")]
    passthrough: Vec<String>,
    /// A port passthrough hosts are reached on (repeatable; replaces the default 443
    /// and 80).
    #[arg(long, value_name = "PORT")]
    passthrough_port: Vec<u16>,
    /// The most client connections the proxy serves at once (default 1024); past it a
    /// new one is answered 503 `proxy.too_many_connections`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// The most of them one client address holds (default 256), so one sandbox cannot
    /// take them all; raise it when many sandboxes share one address (behind NAT).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_peer: Option<u32>,
    /// Connect to ADDR for HOST instead of resolving it, as `HOST=IP:PORT`, the upstream
    /// still verified as HOST (repeatable; a provider on a private network).
    #[arg(long, value_name = "HOST=IP:PORT")]
    resolve: Vec<String>,
    /// A CA certificate (PEM) trusted for upstreams besides the webpki roots
    /// (repeatable).
    #[arg(long, value_name = "PEM")]
    upstream_ca: Vec<PathBuf>,
    /// Allow loopback destinations (refused by default).
    #[arg(long)]
    allow_loopback: bool,
    /// Allow private and link-local destinations (refused by default; cloud metadata is
    /// link-local).
    #[arg(long)]
    allow_private: bool,
    /// Run offline against a mock OpenAI API on loopback, with a demo credential, and
    /// print the `HTTPS_PROXY` line and CA path a sandbox needs.
    #[arg(long)]
    demo: bool,
}

#[derive(Debug, Subcommand)]
enum ProxyCommand {
    /// Generate a CA pair for a sandbox image: the certificate to trust (give it to the
    /// sandbox) and the key (keep it with the proxy; written with mode 0600).
    Ca {
        /// Where to write the certificate (PEM).
        #[arg(long, value_name = "PEM", default_value = "proxy-ca.pem")]
        cert: PathBuf,
        /// Where to write the private key (PEM).
        #[arg(long, value_name = "PEM", default_value = "proxy-ca-key.pem")]
        key: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "integrations egress proxy CA")]
        name: String,
    },
}

fn failed(code: integrations_core::Code, message: impl Into<String>) -> Error {
    code.error(message.into())
}

/// Runs `integrations proxy ...`.
pub(crate) fn run(args: ProxyArgs) -> Result<std::process::ExitCode, Error> {
    if let Some(ProxyCommand::Ca { cert, key, name }) = &args.command {
        return generate_ca(cert, key, name);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("the async runtime did not start").with_source(e))?;
    runtime.block_on(async move {
        if args.demo {
            demo(&args).await
        } else {
            serve(&args).await
        }
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn generate_ca(cert: &Path, key: &Path, name: &str) -> Result<std::process::ExitCode, Error> {
    // Both checked before anything is written: a new key beside an old certificate (or
    // the reverse) would be a pair that does not match.
    for path in [cert, key] {
        if path.symlink_metadata().is_ok() {
            return Err(failed(
                crate::codes::cli::WRITE_FAILED,
                format!(
                    "{} exists; proxy ca writes a new pair and overwrites neither file",
                    path.display()
                ),
            ));
        }
    }
    // Also when spelled two ways (`ca.pem`, `./ca.pem`, an absolute path): the
    // certificate would replace the key just written.
    if cert == key || io::resolved(cert).is_some_and(|c| io::resolved(key) == Some(c)) {
        return Err(failed(
            crate::codes::cli::WRITE_FAILED,
            "--cert and --key name the same file".to_owned(),
        ));
    }
    let generated = CertificateAuthority::generate(name)?;
    write_new(key, generated.key_pem.expose().as_bytes(), Some(0o600))?;
    // A new file too: one that appeared since the check is not replaced.
    if let Err(e) = write_new(cert, generated.cert_pem.as_bytes(), None) {
        // A key without its certificate is of no use, and would block the next try.
        let _ = std::fs::remove_file(key);
        return Err(e);
    }
    out!("certificate {} (give it to the sandbox)", cert.display());
    out!(
        "key         {} (keep it with the proxy, mode 0600)",
        key.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Writes a new file (never one already there), with the unix `mode` given (the
/// process's default otherwise; `0o600` for a file only its owner can read).
fn write_new(path: &Path, content: &[u8], mode: Option<u32>) -> Result<(), Error> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| {
        failed(
            crate::codes::cli::WRITE_FAILED,
            format!(
                "{} cannot be created (it must not exist yet): {e}",
                path.display()
            ),
        )
        .with_source(e)
    })?;
    file.write_all(content).map_err(|e| {
        failed(
            crate::codes::cli::WRITE_FAILED,
            format!("{} cannot be written", path.display()),
        )
        .with_source(e)
    })
}

fn load_ca(args: &ProxyArgs) -> Result<Option<(CertificateAuthority, PathBuf)>, Error> {
    match (&args.ca_cert, &args.ca_key) {
        (Some(cert), Some(key)) => {
            let pem = io::read_text(cert)?;
            let key_pem = Secret::new(io::read_text(key)?);
            Ok(Some((
                CertificateAuthority::from_pem(&pem, &key_pem)?,
                cert.clone(),
            )))
        }
        (None, None) => Ok(None),
        _ => {
            Err(crate::codes::cli::USAGE
                .with_issues("give both --ca-cert and --ca-key", Vec::new()))
        }
    }
}

fn config(args: &ProxyArgs) -> Result<ProxyConfig, Error> {
    let mut config = ProxyConfig::new()
        .allow_loopback(args.allow_loopback)
        .allow_private(args.allow_private);
    for host in &args.passthrough {
        config = config.with_passthrough_host(host)?;
    }
    if !args.passthrough_port.is_empty() {
        config = config.with_passthrough_ports(args.passthrough_port.iter().copied());
    }
    if let Some(max) = args.max_connections {
        config = config.with_max_connections(max as usize);
    }
    if let Some(max) = args.max_connections_per_peer {
        config = config.with_max_connections_per_peer(max as usize);
    }
    for rule in &args.resolve {
        let invalid = || {
            crate::codes::cli::USAGE
                .with_issues(format!("--resolve {rule}: give HOST=IP:PORT"), Vec::new())
        };
        let (host, addr) = rule.split_once('=').ok_or_else(invalid)?;
        let addr: std::net::SocketAddr = addr.trim().parse().map_err(|_| invalid())?;
        config = config.with_upstream_override(host.trim(), UpstreamOverride::tls(addr))?;
    }
    for path in &args.upstream_ca {
        use rustls_pki_types::pem::PemObject as _;
        let pem = io::read_text(path)?;
        let der =
            rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
                crate::codes::cli::INVALID_CERTIFICATE
                    .error(format!("{} is not a PEM certificate", path.display()))
            })?;
        config = config.with_extra_root(der);
    }
    Ok(config)
}

/// The plan in the file at `path` (see [`super::compile::read_plan`]).
fn read_plan(path: &Path) -> Result<CompiledRuntimePlan, Error> {
    super::compile::read_plan(path).map(|(plan, _)| plan)
}

/// Serves `--plan` with the credentials of the database, until Ctrl-C or SIGTERM;
/// SIGHUP reloads the plan file.
async fn serve(args: &ProxyArgs) -> Result<(), Error> {
    let usage = |what: &str| crate::codes::cli::USAGE.error(what.to_owned());
    let plan_path = args
        .plan
        .as_ref()
        .ok_or_else(|| usage("give --plan PLAN.json (or --demo)"))?;
    let plan = read_plan(plan_path)?;
    let (ca, _) = load_ca(args)?.ok_or_else(|| usage("give --ca-cert and --ca-key"))?;
    let var = args
        .grant_key_env
        .as_deref()
        .ok_or_else(|| usage("give --grant-key-env VAR (the grant signing key)"))?;
    let grant_key = GrantKey::new(
        &args.grant_key_id,
        io::secret_from_env(var)?.expose().as_bytes(),
    )?;
    let config = config(args)?;
    let open = args.store.open().await?;
    let host = Host::builder()
        .stores(open.stores.clone())
        .cipher(open.keys.clone())
        .http(Arc::new(ReqwestHttpClient::new()?))
        .build()?;
    let registry = Arc::new(integrations_definitions::registry());
    // The proxy audits every injected request itself (route, status, plan); the token
    // manager's own usage record would repeat it.
    let tokens = Arc::new(TokenManager::new(registry, host.clone()).with_usage_audit(false));
    let handle = Proxy::new(&plan, GrantKeys::new(grant_key), ca, host, tokens, config)?
        .bind(args.listen)
        .await?;
    note!("listening {}", handle.local_addr());
    note!("plan {}", handle.plan_hash());
    signals(&handle, plan_path).await?;
    handle.shutdown().await;
    open.stores.close().await;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM; reloads the plan on SIGHUP (a plan that does not load
/// is reported and the old one kept).
#[cfg(unix)]
async fn signals(handle: &integrations_proxy::ProxyHandle, plan_path: &Path) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind| {
        signal(kind).map_err(|e| Error::internal("signals cannot be received").with_source(e))
    };
    let mut hangup = listen(SignalKind::hangup())?;
    let mut terminate = listen(SignalKind::terminate())?;
    // Listened to once, before the loop: a Ctrl-C arriving during a reload is kept.
    let mut interrupt = listen(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => {
                match read_plan(plan_path).and_then(|plan| handle.reload(&plan)) {
                    Ok(()) => note!("plan {}", handle.plan_hash()),
                    Err(error) => {
                        #[allow(clippy::print_stderr, reason = "a failed reload is reported, not fatal")]
                        {
                            eprintln!("{} {error} (still serving plan {})", error.code(), handle.plan_hash());
                        }
                    }
                }
            }
        }
    }
}

#[cfg(not(unix))]
async fn signals(
    _handle: &integrations_proxy::ProxyHandle,
    _plan_path: &Path,
) -> Result<(), Error> {
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

#[cfg(feature = "demo")]
async fn demo(args: &ProxyArgs) -> Result<(), Error> {
    use std::time::Duration;

    use integrations_core::compile::{ProfileInput, compile};
    use integrations_core::egress::GrantAudience;
    use integrations_core::service::{ConnectionInput, TargetInput, WriteService};
    use integrations_core::{ConnectionId, ConnectionMethodId, TargetId, TenantId};
    use integrations_testkit::TestHost;
    use integrations_testkit::mock::api::OpenAiApi;

    let openai = OpenAiApi::start().await;
    openai.accept_key(DEMO_KEY);
    let mock: std::net::SocketAddr = openai
        .provider()
        .uri()
        .trim_start_matches("http://")
        .parse()
        .map_err(|_| Error::internal("the mock has no socket address"))?;

    let test = TestHost::with_http(Arc::new(ReqwestHttpClient::new()?));
    let registry = Arc::new(integrations_definitions::registry());
    let service = WriteService::new(registry.clone(), test.host().clone());
    let tenant = TenantId::new("demo")?;
    service
        .put_target(TargetInput::new(
            tenant.clone(),
            TargetId::new("openai")?,
            "openai::openai-default".parse()?,
        ))
        .await?;
    service
        .put_connection(
            ConnectionInput::new(
                tenant,
                ConnectionId::new("openai-key")?,
                TargetId::new("openai")?,
                ConnectionMethodId::new("api-key")?,
            )
            .with_secret("api_key", DEMO_KEY),
        )
        .await?;
    let plan = match &args.plan {
        Some(path) => read_plan(path)?,
        None => compile(&registry, &ProfileInput::from_json(DEMO_PROFILE)?)?,
    };
    let route = plan
        .egress_routes
        .first()
        .ok_or_else(|| failed(crate::codes::cli::NO_ROUTES, "the plan has no egress route"))?;
    let keys = GrantKeys::new(GrantKey::generate("demo")?);
    let grant = keys.issue_for_route(
        route,
        &GrantAudience::for_plan(&plan),
        &*test.clock,
        Duration::from_secs(3600),
    )?;

    // A generated CA's certificate goes in a directory of its own, made new (a name
    // another user planted in the shared temp directory is never written through) and
    // removed at exit.
    let mut scratch = None;
    let (ca, ca_path) = if let Some(loaded) = load_ca(args)? {
        loaded
    } else {
        let generated = CertificateAuthority::generate("integrations demo proxy CA")?;
        let dir = std::env::temp_dir().join(format!(
            "integrations-proxy-demo-{}",
            integrations_core::tools::ApprovalId::generate()?
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|e| {
            failed(
                crate::codes::cli::WRITE_FAILED,
                format!("{} cannot be created: {e}", dir.display()),
            )
            .with_source(e)
        })?;
        let path = dir.join("ca.pem");
        scratch = Some(ScratchDir(dir));
        io::write_atomically(&path, generated.cert_pem.as_bytes())?;
        (
            CertificateAuthority::from_pem(&generated.cert_pem, &generated.key_pem)?,
            path,
        )
    };
    let config = config(args)?
        .allow_loopback(true)
        .with_upstream_override("api.openai.com", UpstreamOverride::plaintext(mock))?;
    let tokens = Arc::new(TokenManager::new(registry, test.host().clone()));
    let handle = Proxy::new(&plan, keys, ca, test.host().clone(), tokens, config)?
        .bind(args.listen)
        .await?;
    let addr = handle.local_addr();
    out!("HTTPS_PROXY=http://sandbox:{}@{addr}", grant.expose());
    out!("CA={}", ca_path.display());
    out!(
        "# try: HTTPS_PROXY=... curl --cacert {} https://api.openai.com/v1/models",
        ca_path.display()
    );
    out!("# the OpenAI key stays in the proxy; stop with Ctrl-C");
    stop_requested().await;
    handle.shutdown().await;
    drop(openai);
    drop(scratch);
    Ok(())
}

/// A directory removed, with what it holds, when dropped.
#[cfg(feature = "demo")]
struct ScratchDir(PathBuf);

#[cfg(feature = "demo")]
impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Completes at Ctrl-C or SIGTERM.
#[cfg(feature = "demo")]
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(not(feature = "demo"))]
#[allow(
    clippy::unused_async,
    reason = "the same signature as the demo it stands for"
)]
async fn demo(_args: &ProxyArgs) -> Result<(), Error> {
    Err(super::demo_unavailable())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapped {
        #[command(flatten)]
        args: ProxyArgs,
    }

    fn config_of(flags: &[&str]) -> ProxyConfig {
        let mut argv = vec!["proxy", "--demo"];
        argv.extend_from_slice(flags);
        config(&Wrapped::try_parse_from(argv).unwrap().args).unwrap()
    }

    #[test]
    fn passthrough_ports_default_to_https_and_http_and_the_flag_replaces_them() {
        let default = config_of(&["--passthrough", "pypi.org"]);
        assert_eq!(default.passthrough_hosts, ["pypi.org"]);
        assert_eq!(default.passthrough_ports, [443, 80]);
        let listed = config_of(&["--passthrough-port", "8443", "--passthrough-port", "443"]);
        assert_eq!(listed.passthrough_ports, [8443, 443]);
    }

    #[test]
    fn connection_limits_default_to_the_proxys_and_the_flags_set_them() {
        let default = config_of(&[]);
        assert_eq!(
            (default.max_connections, default.max_connections_per_peer),
            (1024, 256)
        );
        let set = config_of(&[
            "--max-connections",
            "4096",
            "--max-connections-per-peer",
            "2048",
        ]);
        assert_eq!(
            (set.max_connections, set.max_connections_per_peer),
            (4096, 2048)
        );
        for refused in ["0", "-1", "many"] {
            let argv = ["proxy", "--demo", "--max-connections-per-peer", refused];
            assert!(Wrapped::try_parse_from(argv).is_err(), "{refused}");
        }
    }
}
