//! `wasm-agent serve`: validate the settings, load the handler, bind, serve, and own the
//! signals.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use wasm_agent_host::{Host, HostConfig};
use wasm_agent_server::{
    AppState, ServerConfig, listen, raise_open_files_limit, router, serve, serve_metrics,
};

use crate::args::process_env;
use crate::failure::Failure;
use crate::settings::ServeSettings;

/// Cores per control thread when `--control-threads` is left to us. HTTP costs a few
/// microseconds a request against tens for a guest call, and every extra control thread adds
/// wake-ups between its siblings: on two cores a second one cost a quarter of the throughput.
const CORES_PER_CONTROL_THREAD: usize = 4;
/// Invocations beyond this would need more instance slots than address space allows.
const MAX_CONCURRENCY: usize = 16_384;
/// Bounds on the other slot counts: a typo, not a configuration. Whether the pool they add up
/// to fits in the address space is checked when it is reserved.
const MAX_SLOTS: u32 = 1_000_000;
/// Threads of either kind beyond this are a typo: each reserves a stack and the machine's cores
/// are far fewer.
const MAX_THREADS: usize = 1024;
/// Connections beyond this are a typo: Linux allows a process about a million descriptors
/// (`fs.nr_open`), and each connection takes one.
const MAX_CONNECTIONS: usize = 1_000_000;
/// The longest a client may be given to send a head or a body, or to keep a connection idle:
/// a connection held longer serves no one, so more is a typo.
const MAX_CLIENT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// A minimum body rate above this (8 Gbit/s) would refuse bodies from clients on most networks:
/// a typo.
const MAX_BODY_MIN_RATE: u64 = 1 << 30;

/// Loads the handler, then serves it until a signal; or, for `--print-config`, prints the
/// settings once they are known to be valid.
pub(crate) fn run(settings: ServeSettings) -> Result<(), Failure> {
    let (host_config, server_config) =
        configure(&settings).map_err(|error| Failure::usage(anyhow!(error)))?;
    if settings.args.print_config {
        let text = settings
            .to_toml()
            .context("cannot write the settings as TOML")?;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .context("cannot write to standard output")?;
        return Ok(());
    }
    let args = &settings.args;
    let handler = args.handler.as_ref().ok_or_else(|| {
        Failure::usage(anyhow!(
            "no handler: name the component (.wasm) to serve, or set `handler` in the config \
             file"
        ))
    })?;
    // Checked before the handler is compiled, so a bad `OTEL_*` value fails at once; dropped
    // after the control runtime (declared below), so spans ended in the drain are flushed.
    let _traces = crate::telemetry::init().map_err(Failure::usage)?;
    let watched = args.watch.then(|| host_config.clone());
    let host =
        Host::load_file(handler, host_config).map_err(|error| Failure::load(handler, error))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(control_threads(args.control_threads))
        .thread_name("wasm-agent-control")
        .enable_all()
        .build()
        .context("cannot start the control runtime")?;
    runtime.block_on(async {
        let address = SocketAddr::new(args.host, args.port);
        match raise_open_files_limit() {
            Ok(open_files) if open_files < server_config.max_connections as u64 => {
                tracing::warn!(
                    open_files,
                    max_connections = server_config.max_connections,
                    "the open files limit is below --max-connections: connections past it \
                     cannot be accepted, and outbound calls fail"
                );
            }
            Ok(open_files) => tracing::debug!(open_files, "open files limit"),
            Err(error) => tracing::warn!(%error, "cannot raise the open files limit"),
        }
        let listener = listen(address).with_context(|| format!("cannot listen on {address}"))?;
        let local = listener.local_addr()?;
        let metrics = match server_config.metrics_addr {
            Some(address) => Some(listen(address).with_context(|| {
                format!(
                    "cannot listen on {address} for /metrics ({})",
                    settings.name("metrics-addr")
                )
            })?),
            None => None,
        };
        let state = AppState::new(host, server_config);
        // Registered before the readiness line: until then SIGUSR1 would end the process.
        tokio::spawn(log_stats_on_signal(state.clone())?);
        if let Some(listener) = metrics {
            eprintln!("metrics on http://{}", listener.local_addr()?);
            tokio::spawn(serve_metrics(listener, state.clone()));
        }
        if let Some(config) = watched {
            tracing::info!(handler = %handler.display(), "watching the handler's file: a change reloads it");
            tokio::spawn(crate::watch::watch(handler.clone(), config, state.clone()));
        }
        eprintln!("listening on http://{local}");
        serve(listener, router(state.clone()), state.clone(), shutdown_signal()).await;
        let outbound = state.host().outbound_stats();
        tracing::info!(
            outbound_completed = outbound.completed,
            outbound_failed = outbound.failed,
            outbound_denied = outbound.denied,
            outbound_bytes = outbound.bytes,
            "stopped"
        );
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// Threads of the control runtime: `requested`, or one per [`CORES_PER_CONTROL_THREAD`] cores.
fn control_threads(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / CORES_PER_CONTROL_THREAD).max(1)
}

/// Checks the settings against each other and builds the library configurations. An error
/// names a setting as the operator gave it: flag, variable, or config file key and line.
fn configure(settings: &ServeSettings) -> Result<(HostConfig, ServerConfig), String> {
    let args = &settings.args;
    let name = |key: &str| settings.name(key);
    for (key, value) in [
        ("workers", args.workers),
        ("control-threads", args.control_threads),
    ] {
        if value > MAX_THREADS {
            return Err(format!(
                "{} must be 0 (automatic) to {MAX_THREADS}",
                name(key)
            ));
        }
    }
    if args.max_concurrency == 0 || args.max_concurrency > MAX_CONCURRENCY {
        return Err(format!(
            "{} must be 1 to {MAX_CONCURRENCY}",
            name("max-concurrency")
        ));
    }
    for (key, value) in [
        ("max-sessions", args.max_sessions),
        ("max-background", args.max_background),
        ("max-websockets", args.max_websockets),
    ] {
        if value == 0 || value > MAX_SLOTS {
            return Err(format!("{} must be 1 to {MAX_SLOTS}", name(key)));
        }
    }
    if args.max_connections == 0 || args.max_connections > MAX_CONNECTIONS {
        return Err(format!(
            "{} must be 1 to {MAX_CONNECTIONS}",
            name("max-connections")
        ));
    }
    for (key, value) in [
        ("header-timeout", args.header_timeout),
        ("body-timeout", args.body_timeout),
        ("keep-alive-timeout", args.keep_alive_timeout),
    ] {
        if value.is_zero() || *value > MAX_CLIENT_TIMEOUT {
            return Err(format!(
                "{} must be more than zero and at most {}",
                name(key),
                humantime::format_duration(MAX_CLIENT_TIMEOUT)
            ));
        }
    }
    if args.body_min_rate == 0 || args.body_min_rate > MAX_BODY_MIN_RATE {
        return Err(format!(
            "{} must be 1 to {MAX_BODY_MIN_RATE} bytes a second",
            name("body-min-rate")
        ));
    }
    let max_total_memory = args.max_total_memory.or_else(default_total_memory);
    if let Some(total) = max_total_memory
        && total < args.limits.max_memory
    {
        if args.max_total_memory.is_some() {
            return Err(format!(
                "{} is less than {}: {total} bytes against {}",
                name("max-total-memory"),
                name("max-memory"),
                args.limits.max_memory
            ));
        }
        // Found, not given (a small container): serving beats refusing to start, and the
        // budget still refuses what would not fit.
        tracing::warn!(
            max_total_memory = total,
            max_memory = args.limits.max_memory,
            "the default guest memory budget (three quarters of this container's or machine's \
             memory) is below --max-memory: an instance can grow only as far as the budget \
             allows; set both to say what fits"
        );
    }
    let max_payload = usize::try_from(args.max_payload)
        .map_err(|_| format!("{} is too large", name("max-payload")))?;
    let host = HostConfig {
        workers: args.workers,
        max_concurrency: u32::try_from(args.max_concurrency)
            .map_err(|_| format!("{} is too large", name("max-concurrency")))?,
        max_queue: args.max_queue,
        cancel_grace: args.cancel_grace,
        max_total_memory,
        scope: args.instance_scope.into(),
        max_sessions: args.max_sessions,
        session_idle_timeout: args.session_idle_timeout,
        session_max_lifetime: args.session_max_lifetime,
        session_queue: args.session_queue,
        max_background: args.max_background,
        task_timeout: args.task_timeout,
        max_websockets: args.max_websockets,
        ..args.limits.host_config(&process_env, &name)?
    };
    let server = ServerConfig {
        max_payload,
        timeout: args.limits.timeout,
        stream_timeout: args.stream_timeout,
        shutdown_grace: args.shutdown_grace,
        debug: args.debug,
        header_timeout: args.header_timeout.into(),
        body_timeout: args.body_timeout.into(),
        body_min_rate: args.body_min_rate,
        keep_alive_timeout: args.keep_alive_timeout.into(),
        max_connections: args.max_connections,
        metrics_addr: args.metrics_addr,
    };
    Ok((host, server))
}

/// The share of the memory this process may use (the machine's, or its container's limit if
/// lower) that guests get when `--max-total-memory` is not given, as a fraction: the rest is
/// the server's own, its connections' buffers and the page cache's.
const DEFAULT_GUEST_MEMORY_SHARE: (u64, u64) = (3, 4);

fn default_total_memory() -> Option<u64> {
    let (part, whole) = DEFAULT_GUEST_MEMORY_SHARE;
    crate::memory::available().map(|bytes| bytes / whole * part)
}

/// Completes at the first SIGTERM or SIGINT; a second one exits at once.
async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("signal received: shutting down (a second signal exits at once)");
    tokio::spawn(async {
        wait_for_signal().await;
        eprintln!("second signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Logs the server's stats (`server stats`) at each SIGUSR1. The signal is registered now, so
/// a SIGUSR1 sent once this returns is never the default action (which ends the process).
fn log_stats_on_signal(state: AppState) -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut user1 = signal(SignalKind::user_defined1()).context("cannot register for SIGUSR1")?;
    Ok(async move {
        while user1.recv().await.is_some() {
            state.stats().log();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::from_argv;

    /// With nothing given, the configurations are the libraries' own defaults: each default
    /// has its one home there.
    #[test]
    fn defaults_are_the_libraries() -> Result<(), String> {
        let (mut host, server) = configure(&from_argv(&["wasm-agent", "serve"])?)?;
        // Found on this machine rather than fixed: the cache's directory and the memory budget.
        host.cache_dir = None;
        host.max_total_memory = None;
        assert_eq!(format!("{host:?}"), format!("{:?}", HostConfig::default()));
        assert_eq!(
            format!("{server:?}"),
            format!("{:?}", ServerConfig::default())
        );
        Ok(())
    }

    /// A setting is checked the same from a flag and from the file, and named as it was given.
    #[test]
    fn settings_are_checked_and_named_as_given() -> Result<(), String> {
        let error = configure(&from_argv(&[
            "wasm-agent",
            "serve",
            "--max-concurrency",
            "0",
        ])?)
        .err()
        .unwrap_or_default();
        assert_eq!(error, "--max-concurrency must be 1 to 16384");
        let directory =
            std::env::temp_dir().join(format!("wasm-agent-checked-{}", std::process::id()));
        std::fs::create_dir_all(&directory).map_err(|e| e.to_string())?;
        let path = directory.join("wasm-agent.toml");
        std::fs::write(
            &path,
            "metrics-addr = \"127.0.0.1:9464\"\nmax-concurrency = 0\n",
        )
        .map_err(|e| e.to_string())?;
        let file = path.to_str().ok_or("not UTF-8")?;
        let error = configure(&from_argv(&["wasm-agent", "serve", "--config", file])?)
            .err()
            .unwrap_or_default();
        assert_eq!(
            error,
            format!("max-concurrency ({file}, line 2) must be 1 to 16384")
        );
        let settings = from_argv(&[
            "wasm-agent",
            "serve",
            "--config",
            file,
            "--max-concurrency",
            "3",
        ])?;
        let (host, server) = configure(&settings)?;
        assert_eq!(host.max_concurrency, 3);
        assert_eq!(
            server.metrics_addr,
            Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        Ok(())
    }
}
