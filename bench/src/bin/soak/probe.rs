//! The `/ping` probe: a fresh connection every 50 ms, on a thread of its own so a busy load
//! cannot make the server look slow; each answer timed from connecting to the last byte.

use std::io::BufReader;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http;
use crate::tally::percentile;

/// How often `/ping` is asked.
const INTERVAL: Duration = Duration::from_millis(50);
/// A ping slower than this is counted slow (the target).
pub(crate) const SLOW: Duration = Duration::from_millis(100);
/// A ping not answered within this has failed.
const PATIENCE: Duration = Duration::from_secs(10);
/// Failures and slow pings whose details the report lists.
const DETAILS_KEPT: usize = 20;

/// The probe's results.
#[derive(Debug, Default)]
pub(crate) struct Pings {
    latencies: Vec<u64>,
    failed: u64,
    slow: u64,
    details: Vec<String>,
}

impl Pings {
    /// Pings that got no 200 answer.
    pub(crate) fn failed(&self) -> u64 {
        self.failed
    }

    /// Pings answered slower than [`SLOW`].
    pub(crate) fn slow(&self) -> u64 {
        self.slow
    }

    /// The results as JSON.
    pub(crate) fn to_json(&self) -> Value {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        json!({
            "sent": sorted.len() as u64 + self.failed,
            "failed": self.failed,
            "slow_over_100ms": self.slow,
            "p50_ms": percentile(&sorted, 0.50),
            "p99_ms": percentile(&sorted, 0.99),
            "max_ms": percentile(&sorted, 1.0),
            "details": self.details,
        })
    }
}

/// Probes `server` until `stop` is set; the results come from the handle.
pub(crate) fn start(
    server: SocketAddr,
    stop: Arc<AtomicBool>,
    began: Instant,
) -> std::io::Result<JoinHandle<Pings>> {
    std::thread::Builder::new()
        .name("ping-probe".into())
        .spawn(move || {
            let mut pings = Pings::default();
            let mut next = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                match ping(server) {
                    Ok(()) => {
                        let took = sent.elapsed();
                        pings.latencies.push(took.as_micros() as u64);
                        if took > SLOW {
                            pings.slow += 1;
                            note(
                                &mut pings,
                                format!("{:.1} s: slow, {took:?}", (sent - began).as_secs_f64()),
                            );
                        }
                    }
                    Err(error) => {
                        pings.failed += 1;
                        note(
                            &mut pings,
                            format!("{:.1} s: {error}", (sent - began).as_secs_f64()),
                        );
                    }
                }
                next += INTERVAL;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            pings
        })
}

fn note(pings: &mut Pings, detail: String) {
    if pings.details.len() < DETAILS_KEPT {
        pings.details.push(detail);
    }
}

fn ping(server: SocketAddr) -> Result<(), String> {
    let mut stream = http::connect(server, PATIENCE).map_err(|e| e.to_string())?;
    http::send(&mut stream, "GET", "/ping", &[], b"", false).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let head = http::read_head(&mut reader).map_err(|e| e.to_string())?;
    let body = http::read_body(&mut reader, &head).map_err(|e| e.to_string())?;
    if head.status != 200 {
        return Err(format!(
            "status {}: {}",
            head.status,
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(())
}
