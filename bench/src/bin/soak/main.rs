//! The soak test (`make soak`, and a short run in `make test`): the real server under a mix of
//! well-behaved and hostile load for a bounded time, `/ping` probed every 50 ms, its resources
//! measured at rest after warm-up, in the middle and at the end, and SIGTERM under load last.
//! Prints a report, writes it as JSON, and exits non-zero on a miss. bench/soak/README.md says
//! what it checks and why.
//!
//! Modules:
//! - `http`: a small blocking HTTP/1.1 and WebSocket client over raw TCP;
//! - `upstream`: the mock model and the slow, huge and endless upstreams;
//! - `process`: the server process, its log, /proc and SIGUSR1 stats;
//! - `well`, `hostile`: the two halves of the mix;
//! - `load`: the client threads and the gate that pauses them;
//! - `measure`: the server's resources under load and at rest;
//! - `tally`: counts by outcome, failures, latencies;
//! - `probe`: the `/ping` probe;
//! - `shutdown`: the last phase;
//! - `report`: the checks, the table and the JSON.

#![forbid(unsafe_code)]

mod hostile;
mod http;
mod load;
mod measure;
mod probe;
mod process;
mod report;
mod shutdown;
mod tally;
mod upstream;
mod well;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

use crate::load::Gate;
use crate::measure::{Trend, is_at_rest, load_until, same_holdings, settle};
use crate::process::Server;
use crate::report::Checkpoint;
use crate::tally::Tally;
use crate::well::Target;

/// A client's patience for one read or write: generous, so that a busy machine is not taken
/// for a failing server (the short run asserts correctness, not speed).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest the clients take to finish their requests in progress when paused: above the
/// longest hostile request (a slow body or an idle flood, 15 s).
const PAUSE_LIMIT: Duration = Duration::from_secs(60);
/// The server's grace at shutdown, passed as `--shutdown-grace`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Load before the shutdown probes start, so SIGTERM lands on a busy server.
const SHUTDOWN_LEAD: Duration = Duration::from_secs(2);

#[derive(Parser, Debug)]
struct Args {
    /// The wasm-agent binary
    #[arg(long)]
    server: PathBuf,
    /// The soak guest (guest-examples/dist/soak.wasm)
    #[arg(long)]
    guest: PathBuf,
    /// Seconds of load, from the first request to the last checkpoint
    #[arg(long, env = "SOAK_SECS", default_value_t = 600)]
    secs: u64,
    /// Well-behaved clients, each with one request at a time
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Hostile clients
    #[arg(long, default_value_t = 4)]
    hostile: usize,
    /// Only these kinds of request, well-behaved or hostile (comma-separated; all if empty):
    /// for finding which one a miss comes from
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Check correctness only (no failure, no crash, descriptors and instances back to the
    /// baseline, a clean shutdown), not the timing and growth targets
    #[arg(long)]
    correctness_only: bool,
    /// Where the report (soak.json) and the server's log go
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
    /// A further flag for `wasm-agent serve` (repeatable)
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::from(2)
        }
    }
}

/// The server's flags: short deadlines so hostile guests end quickly, outbound limits the
/// hostile upstreams run into, the upstream allowed.
fn server_flags(args: &Args, upstream: std::net::SocketAddr) -> Vec<String> {
    let grace = format!("{}s", SHUTDOWN_GRACE.as_secs());
    let mut flags: Vec<String> = [
        "--timeout",
        "5s",
        "--stream-timeout",
        "20s",
        "--max-memory",
        "64MiB",
        "--shutdown-grace",
        &grace,
        "--cancel-grace",
        "500ms",
        "--header-timeout",
        "2s",
        "--body-timeout",
        "2s",
        "--keep-alive-timeout",
        "5s",
        "--outbound-first-byte-timeout",
        "2s",
        "--outbound-between-bytes-timeout",
        "1s",
        "--outbound-max-response",
        "1MiB",
        "--max-result-size",
        "4MiB",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    flags.push("--allow-outbound".into());
    flags.push(format!("http://{upstream}"));
    flags.extend(args.server_args.iter().cloned());
    flags
}

fn run(args: &Args) -> std::io::Result<bool> {
    std::fs::create_dir_all(&args.out)?;
    let upstream = upstream::start()?;
    let flags = server_flags(args, upstream);
    let mut server = Server::start(
        &args.server,
        &args.guest,
        &flags,
        args.out.join("server.log"),
    )?;
    let target = Target {
        server: server.address,
        upstream,
        timeout: CLIENT_TIMEOUT,
    };
    let mode = if args.correctness_only {
        "correctness only"
    } else {
        "full"
    };
    eprintln!(
        "soak: {} s ({mode}) against {} (pid {}), log in {}",
        args.secs,
        server.address,
        server.pid(),
        args.out.join("server.log").display()
    );
    let began = Instant::now();
    let initial = server.snapshot()?;
    let mut checkpoints = vec![Checkpoint {
        name: "initial",
        at_secs: 0.0,
        snapshot: initial,
        settled: true,
    }];
    let (gate, tally) = (Arc::new(Gate::default()), Arc::new(Tally::default()));
    let stop_probe = Arc::new(AtomicBool::new(false));
    let probe = probe::start(server.address, stop_probe.clone(), began)?;
    let mix = load::Mix::new(&args.only);
    let clients = load::start(args.clients, args.hostile, target, &mix, &gate, &tally)?;
    let mut misses = Vec::new();
    let mut trend = Trend::new(began);

    let secs = Duration::from_secs(args.secs.max(10));
    let warm_up = (secs / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
    let middle = warm_up + (secs - warm_up) / 2;
    let mut crashed = false;
    for (name, at) in [("start", warm_up), ("middle", middle), ("end", secs)] {
        if !load_until(&mut server, began + at, &mut trend) {
            crashed = true;
            break;
        }
        if !gate.pause(PAUSE_LIMIT) {
            misses.push(format!(
                "{name}: clients were still busy {PAUSE_LIMIT:?} after the load paused"
            ));
        }
        let start = checkpoints
            .iter()
            .find(|c| c.name == "start")
            .map(|c| c.snapshot);
        let (snapshot, settled) = settle(&server, |now, previous| match start {
            None => is_at_rest(now) && previous.is_some_and(|p| same_holdings(p, now)),
            Some(start) if args.correctness_only => {
                is_at_rest(now) && report::back_to_baseline(&start, now)
            }
            Some(start) => is_at_rest(now) && report::within_growth(&start, now),
        })?;
        eprintln!(
            "soak: {name} at {:.0} s: {snapshot:?}",
            began.elapsed().as_secs_f64()
        );
        checkpoints.push(Checkpoint {
            name,
            at_secs: began.elapsed().as_secs_f64(),
            snapshot,
            settled,
        });
        gate.resume();
    }

    let shutdown = if crashed {
        misses.push(format!(
            "the server exited during the load:\n{}",
            server.tail()
        ));
        None
    } else {
        load_until(&mut server, Instant::now() + SHUTDOWN_LEAD, &mut trend);
        stop_probe.store(true, Ordering::SeqCst);
        Some(shutdown::run(&mut server, &target, SHUTDOWN_GRACE, |at| {
            // Requests the clients start from now on find the listener closed.
            gate.signalled(at);
            gate.stop();
        })?)
    };
    stop_probe.store(true, Ordering::SeqCst);
    let pings = probe
        .join()
        .map_err(|_| std::io::Error::other("the ping probe panicked"))?;
    gate.stop();
    for client in clients {
        let _ = client.join();
    }

    misses.extend(judge(
        args.correctness_only,
        &tally,
        &pings,
        &checkpoints,
        shutdown.as_ref(),
    ));
    let report = json!({
        "mode": mode,
        "secs": args.secs,
        "clients": args.clients,
        "hostile_clients": args.hostile,
        "server_flags": flags,
        "requests": tally.to_json(),
        "pings": pings.to_json(),
        "checkpoints": report::checkpoints_json(&checkpoints),
        "under_load": { "columns": ["at_secs", "rss_kib", "fds", "threads"], "points": trend.to_json() },
        "shutdown": shutdown.as_ref().map(shutdown::Outcome::to_json),
        "misses": misses,
        "passed": misses.is_empty(),
    });
    let path = args.out.join("soak.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    print!("{}", report::table(&report));
    println!(
        "(report: {}, server log: {})",
        path.display(),
        args.out.join("server.log").display()
    );
    Ok(misses.is_empty())
}

/// The misses of a finished run: a failed well-behaved request or ping, and per mode the
/// growth over the baseline or the return to it, slow pings, and the shutdown's misses.
fn judge(
    correctness_only: bool,
    tally: &Tally,
    pings: &probe::Pings,
    checkpoints: &[Checkpoint],
    shutdown: Option<&shutdown::Outcome>,
) -> Vec<String> {
    let mut misses = Vec::new();
    if tally.failures() > 0 {
        misses.push(format!("{} well-behaved requests failed", tally.failures()));
    }
    if pings.failed() > 0 {
        misses.push(format!("{} pings failed", pings.failed()));
    }
    if !correctness_only && pings.slow() > 0 {
        misses.push(format!(
            "{} pings took over {:?}",
            pings.slow(),
            probe::SLOW
        ));
    }
    let find = |name: &str| checkpoints.iter().find(|c| c.name == name);
    if let Some(start) = find("start") {
        for checkpoint in ["middle", "end"].into_iter().filter_map(find) {
            let (base, now) = (&start.snapshot, &checkpoint.snapshot);
            if correctness_only {
                if checkpoint.name == "end" && !report::back_to_baseline(base, now) {
                    misses.push(format!(
                        "descriptors or live instances not back to the baseline at the end: \
                         {now:?} against {base:?}"
                    ));
                }
            } else if !report::within_growth(base, now) {
                misses.push(format!(
                    "{}: growth over 5% after warm-up (see the table)",
                    checkpoint.name
                ));
            }
        }
    }
    if let Some(shutdown) = shutdown {
        misses.extend(shutdown.misses());
    }
    misses
}
