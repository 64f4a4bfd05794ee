//! The server measured: its resources read under load for the trend, and at rest, once the
//! paused load has let it settle.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::process::{Server, Snapshot, Usage};

/// How often the server's resources are read under load, for the report's trend.
const TREND_INTERVAL: Duration = Duration::from_secs(10);
/// The longest the server takes to come to rest once the load pauses: the keep-alive and
/// header timeouts close the last idle connections, and a dropped instance's pool slot is
/// freed, well within this.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How often the settling server is measured.
const SETTLE_POLL: Duration = Duration::from_millis(500);

/// Lets the load run until `until`, reading the server's resources into `trend` every
/// [`TREND_INTERVAL`]; false if the server exits meanwhile.
pub(crate) fn load_until(server: &mut Server, until: Instant, trend: &mut Trend) -> bool {
    while Instant::now() < until {
        if server.exited().is_some() {
            return false;
        }
        if trend.next <= Instant::now() {
            if let Ok(usage) = server.usage() {
                trend
                    .points
                    .push((trend.began.elapsed().as_secs_f64(), usage));
            }
            trend.next += TREND_INTERVAL;
        }
        std::thread::sleep(
            Duration::from_millis(100).min(until.saturating_duration_since(Instant::now())),
        );
    }
    server.exited().is_none()
}

/// The server's resources under load, read every [`TREND_INTERVAL`]: whether RSS levels off
/// or keeps climbing, which the checkpoints alone cannot tell.
pub(crate) struct Trend {
    began: Instant,
    next: Instant,
    points: Vec<(f64, Usage)>,
}

impl Trend {
    pub(crate) fn new(began: Instant) -> Self {
        Self {
            began,
            next: began,
            points: Vec::new(),
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        self.points
            .iter()
            .map(|(at, usage)| json!([at.round(), usage.rss_kib, usage.fds, usage.threads]))
            .collect()
    }
}

/// Measures the paused server until `settled(now, previous)` holds or [`SETTLE_LIMIT`]
/// passes; the last snapshot, and whether it settled.
pub(crate) fn settle(
    server: &Server,
    settled: impl Fn(&Snapshot, Option<&Snapshot>) -> bool,
) -> std::io::Result<(Snapshot, bool)> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut previous: Option<Snapshot> = None;
    loop {
        let now = server.snapshot()?;
        if settled(&now, previous.as_ref()) {
            return Ok((now, true));
        }
        if Instant::now() >= deadline {
            return Ok((now, false));
        }
        previous = Some(now);
        std::thread::sleep(SETTLE_POLL);
    }
}

/// Nothing in progress: no invocation, WebSocket or open task.
pub(crate) fn is_at_rest(snapshot: &Snapshot) -> bool {
    let counts = &snapshot.counts;
    counts.invocations_running == 0
        && counts.invocations_waiting == 0
        && counts.websockets == 0
        && counts.async_tasks == 0
}

/// The same descriptors and instances in two measurements: the baseline has stopped moving.
pub(crate) fn same_holdings(a: &Snapshot, b: &Snapshot) -> bool {
    a.usage.fds == b.usage.fds && a.counts.live_instances == b.counts.live_instances
}
