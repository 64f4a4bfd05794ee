//! The server under test: started from the built binary, its log kept in a file and searched
//! for the lines the soak waits on, its resources read from /proc, its stats asked for with
//! SIGUSR1, and its shutdown started with SIGTERM.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The longest the server may take to print its readiness line (a cold compile cache in a
/// debug build on a busy machine takes seconds).
const READY_LIMIT: Duration = Duration::from_secs(120);
/// The longest the server may take to log its stats after SIGUSR1.
const STATS_LIMIT: Duration = Duration::from_secs(10);
/// Lines of the log kept for the report when something goes wrong.
const TAIL_LINES: usize = 40;
/// What the server logs: warnings, the stats lines, the guests' output (the soak waits for the
/// guest's `soak: sleeping` lines) and the shutdown's progress.
const LOG_FILTER: &str = "warn,guest=info,wasm_agent::serve=info,\
                          wasm_agent_server::stats=info,wasm_agent_server::serve=info";

/// A running `wasm-agent serve`; killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    pub address: SocketAddr,
    log: Arc<Mutex<Log>>,
}

/// What the soak keeps of the log: the stats lines, the lines that name a shutdown probe, and
/// the last lines.
#[derive(Debug, Default)]
struct Log {
    stats: Vec<String>,
    marked: Vec<String>,
    tail: VecDeque<String>,
}

/// The resources the process holds, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
}

/// The server's own counts, from its `server stats` line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub live_instances: u64,
    pub sessions: u64,
    pub async_tasks: u64,
    pub invocations_running: u64,
    pub invocations_waiting: u64,
    pub websockets: u64,
    /// Bytes the instance pool keeps warm in free slots (part of RSS, on purpose).
    pub pool_warm_bytes: u64,
}

/// Both, at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snapshot {
    pub usage: Usage,
    pub counts: Counts,
}

impl Snapshot {
    /// The snapshot as JSON for the report.
    pub(crate) fn to_json(self) -> Value {
        json!({
            "rss_kib": self.usage.rss_kib,
            "fds": self.usage.fds,
            "threads": self.usage.threads,
            "live_instances": self.counts.live_instances,
            "sessions": self.counts.sessions,
            "async_tasks": self.counts.async_tasks,
            "invocations_running": self.counts.invocations_running,
            "websockets": self.counts.websockets,
            "pool_warm_bytes": self.counts.pool_warm_bytes,
        })
    }
}

impl Server {
    /// Starts `binary serve guest` on a free port of 127.0.0.1 with `flags`, writing its log to
    /// `log_path`, and waits for its readiness line.
    pub(crate) fn start(
        binary: &Path,
        guest: &Path,
        flags: &[String],
        log_path: PathBuf,
    ) -> io::Result<Self> {
        let mut child = Command::new(binary)
            .arg("serve")
            .arg(guest)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(flags)
            .env("WASM_AGENT_LOG", LOG_FILTER)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr"))?;
        let log = Arc::new(Mutex::new(Log::default()));
        let (ready, address) = std::sync::mpsc::channel();
        let sink = log.clone();
        let file = BufWriter::new(File::create(log_path)?);
        std::thread::Builder::new()
            .name("server-log".into())
            .spawn(move || keep_log(BufReader::new(stderr), file, &sink, ready))?;
        match address.recv_timeout(READY_LIMIT) {
            Ok(address) => Ok(Self {
                child,
                address,
                log,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "the server was not ready within {READY_LIMIT:?}:\n{}",
                    tail_of(&log)
                )))
            }
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (a crash, during the load).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of the log.
    pub(crate) fn tail(&self) -> String {
        tail_of(&self.log)
    }

    /// Whether a line naming `marker` (a shutdown probe's request id) has been logged.
    pub(crate) fn has_logged(&self, marker: &str) -> bool {
        self.log
            .lock()
            .map(|log| log.marked.iter().any(|line| line.contains(marker)))
            .unwrap_or(false)
    }

    /// RSS, open descriptors and threads now.
    pub(crate) fn usage(&self) -> io::Result<Usage> {
        let proc = PathBuf::from(format!("/proc/{}", self.pid()));
        let status = std::fs::read_to_string(proc.join("status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(Usage {
            rss_kib: field("VmRSS:"),
            threads: field("Threads:"),
            fds: std::fs::read_dir(proc.join("fd"))?.count() as u64,
        })
    }

    /// Asks for the server's stats (SIGUSR1) and waits for the line.
    pub(crate) fn counts(&self) -> io::Result<Counts> {
        let before = self.log.lock().map(|log| log.stats.len()).unwrap_or(0);
        self.signal("USR1")?;
        let deadline = Instant::now() + STATS_LIMIT;
        while Instant::now() < deadline {
            if let Some(line) = self
                .log
                .lock()
                .ok()
                .and_then(|log| log.stats.get(before).cloned())
            {
                return parse_counts(&line);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(io::Error::other("the server logged no stats after SIGUSR1"))
    }

    /// Usage and counts now.
    pub(crate) fn snapshot(&self) -> io::Result<Snapshot> {
        Ok(Snapshot {
            counts: self.counts()?,
            usage: self.usage()?,
        })
    }

    /// Sends a signal by name (`TERM`, `USR1`).
    pub(crate) fn signal(&self, name: &str) -> io::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -{name} failed")))
        }
    }

    /// Waits up to `limit` for the process to exit.
    pub(crate) fn wait(&mut self, limit: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies the log to `file`, keeps what the soak looks for, and sends the address of the
/// readiness line.
fn keep_log(
    stderr: impl BufRead,
    mut file: impl Write,
    log: &Mutex<Log>,
    ready: std::sync::mpsc::Sender<SocketAddr>,
) {
    for line in stderr.lines().map_while(Result::ok) {
        let _ = writeln!(file, "{line}");
        if let Some(address) = line.trim().strip_prefix("listening on http://") {
            if let Ok(address) = address.parse() {
                let _ = ready.send(address);
            }
            let _ = file.flush();
        }
        let Ok(mut log) = log.lock() else { return };
        if line.contains("server stats") {
            log.stats.push(line.clone());
            let _ = file.flush();
        }
        if line.contains("soak-shutdown") {
            log.marked.push(line.clone());
        }
        if log.tail.len() == TAIL_LINES {
            log.tail.pop_front();
        }
        log.tail.push_back(line);
    }
    let _ = file.flush();
}

fn tail_of(log: &Mutex<Log>) -> String {
    log.lock()
        .map(|log| log.tail.iter().cloned().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

/// The counts in a `server stats` line.
fn parse_counts(line: &str) -> io::Result<Counts> {
    let field = |name: &str| -> io::Result<u64> {
        let start = line
            .find(&format!(" {name}="))
            .ok_or_else(|| io::Error::other(format!("no {name} in {line:?}")))?
            + name.len()
            + 2;
        line[start..]
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other(format!("{name} is not a count in {line:?}")))
    };
    Ok(Counts {
        live_instances: field("live_instances")?,
        sessions: field("sessions")?,
        async_tasks: field("async_tasks")?,
        invocations_running: field("invocations_running")?,
        invocations_waiting: field("invocations_waiting")?,
        websockets: field("websockets")?,
        pool_warm_bytes: field("pool_warm_bytes").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts are read from the fields of the line the server logs.
    #[test]
    fn parses_a_stats_line() -> io::Result<()> {
        let line = "2026-12-01T00:00:00Z  INFO wasm_agent_server::stats: server stats \
                    live_instances=17 sessions=16 async_tasks=0 invocations_running=1 \
                    invocations_waiting=0 websockets=2 guest_memory_bytes=-";
        let counts = parse_counts(line)?;
        assert_eq!(
            (counts.live_instances, counts.sessions, counts.websockets),
            (17, 16, 2)
        );
        Ok(())
    }
}
