//! `wasm-agent serve`: validate the flags, load the handler, bind, serve, and own the signals.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use wasm_agent_host::{Host, HostConfig, InstanceScope};
use wasm_agent_server::{AppState, ServerConfig, listen, raise_open_files_limit, router, serve};

use crate::args::{Scope, ServeArgs, process_env};
use crate::failure::Failure;

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

/// Loads the handler, then serves it until a signal.
pub(crate) fn run(args: ServeArgs) -> Result<(), Failure> {
    let (host_config, server_config) =
        configure(&args).map_err(|error| Failure::usage(anyhow!(error)))?;
    let host = Host::load_file(&args.handler, host_config)
        .map_err(|error| Failure::load(&args.handler, error))?;
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
        let counts = host.clone();
        let state = AppState::new(host, server_config);
        // Registered before the readiness line: until then SIGUSR1 would end the process.
        tokio::spawn(log_stats_on_signal(state.clone())?);
        eprintln!("listening on http://{local}");
        serve(listener, router(state.clone()), state, shutdown_signal()).await;
        let outbound = counts.outbound_stats();
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

/// Checks the flags against each other and builds the library configurations.
fn configure(args: &ServeArgs) -> Result<(HostConfig, ServerConfig), String> {
    for (flag, value) in [
        ("--workers", args.workers),
        ("--control-threads", args.control_threads),
    ] {
        if value > MAX_THREADS {
            return Err(format!("{flag} must be 0 (automatic) to {MAX_THREADS}"));
        }
    }
    if args.max_concurrency == 0 || args.max_concurrency > MAX_CONCURRENCY {
        return Err(format!("--max-concurrency must be 1 to {MAX_CONCURRENCY}"));
    }
    for (flag, value) in [
        ("--max-sessions", args.max_sessions),
        ("--max-background", args.max_background),
        ("--max-websockets", args.max_websockets),
    ] {
        if value == 0 || value > MAX_SLOTS {
            return Err(format!("{flag} must be 1 to {MAX_SLOTS}"));
        }
    }
    if args.max_connections == 0 || args.max_connections > MAX_CONNECTIONS {
        return Err(format!("--max-connections must be 1 to {MAX_CONNECTIONS}"));
    }
    for (flag, value) in [
        ("--header-timeout", args.header_timeout),
        ("--body-timeout", args.body_timeout),
        ("--keep-alive-timeout", args.keep_alive_timeout),
    ] {
        if value.is_zero() || *value > MAX_CLIENT_TIMEOUT {
            return Err(format!(
                "{flag} must be more than zero and at most {}",
                humantime::format_duration(MAX_CLIENT_TIMEOUT)
            ));
        }
    }
    if args.body_min_rate == 0 || args.body_min_rate > MAX_BODY_MIN_RATE {
        return Err(format!(
            "--body-min-rate must be 1 to {MAX_BODY_MIN_RATE} bytes a second"
        ));
    }
    let max_total_memory = args.max_total_memory.or_else(default_total_memory);
    if let Some(total) = max_total_memory
        && total < args.limits.max_memory
    {
        return Err(format!(
            "--max-total-memory ({total} bytes) is less than --max-memory ({} bytes)",
            args.limits.max_memory
        ));
    }
    let max_payload =
        usize::try_from(args.max_payload).map_err(|_| "--max-payload is too large")?;
    let host = HostConfig {
        workers: args.workers,
        max_concurrency: u32::try_from(args.max_concurrency)
            .map_err(|_| "--max-concurrency is too large")?,
        max_queue: args.max_queue,
        cancel_grace: args.cancel_grace,
        max_total_memory,
        scope: match args.instance_scope {
            Scope::Session => InstanceScope::Session,
            Scope::Request => InstanceScope::Request,
        },
        max_sessions: args.max_sessions,
        session_idle_timeout: args.session_idle_timeout,
        session_max_lifetime: args.session_max_lifetime,
        session_queue: args.session_queue,
        max_background: args.max_background,
        task_timeout: args.task_timeout,
        max_websockets: args.max_websockets,
        ..args.limits.host_config(&process_env)?
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
    };
    Ok((host, server))
}

/// Three quarters of the machine's memory, read from /proc/meminfo where there is one.
fn default_total_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024 / 4 * 3)
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
