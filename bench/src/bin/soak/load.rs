//! The load: well-behaved and hostile clients, each on a thread of its own, making one request
//! after another until stopped, and a gate that pauses them all so the server can be measured
//! at rest.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::hostile;
use crate::tally::Tally;
use crate::well::{self, Client, Target};

/// How often a paused client looks at the gate again.
const PAUSED_POLL: Duration = Duration::from_millis(20);

/// Whether the clients may start requests, and how many are in one.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    paused: AtomicBool,
    stopped: AtomicBool,
    busy: AtomicUsize,
    signal: OnceLock<Instant>,
}

impl Gate {
    /// Lets a client start a request, counting it busy; false while paused.
    fn enter(&self) -> bool {
        self.busy.fetch_add(1, Ordering::SeqCst);
        if self.paused.load(Ordering::SeqCst) {
            self.busy.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn leave(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    /// Stops new requests and waits up to `limit` for those in progress; whether they all
    /// ended.
    pub(crate) fn pause(&self, limit: Duration) -> bool {
        self.paused.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + limit;
        while self.busy.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Lets the clients go on.
    pub(crate) fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Ends the clients' loops: each ends once its request in progress has.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Records when the server was told to shut down.
    pub(crate) fn signalled(&self, at: Instant) {
        let _ = self.signal.set(at);
    }

    /// When the server was told to shut down, if it has been.
    pub(crate) fn signal(&self) -> Option<Instant> {
        self.signal.get().copied()
    }
}

/// The kinds of request the clients take turns at.
#[derive(Debug, Clone)]
pub(crate) struct Mix {
    well: Vec<&'static str>,
    hostile: Vec<&'static str>,
}

impl Mix {
    /// Every kind, or only those named in `only`.
    pub(crate) fn new(only: &[String]) -> Self {
        let keep = |kind: &&str| only.is_empty() || only.iter().any(|o| o == kind);
        Self {
            well: well::KINDS.iter().copied().filter(keep).collect(),
            hostile: hostile::KINDS.iter().copied().filter(keep).collect(),
        }
    }
}

/// Starts `well_behaved` and `hostile` clients against `target`, taking turns at the kinds of
/// `mix`, counting into `tally`. A class with no kind in the mix gets no clients.
pub(crate) fn start(
    well_behaved: usize,
    hostile_clients: usize,
    target: Target,
    mix: &Mix,
    gate: &Arc<Gate>,
    tally: &Arc<Tally>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let mut threads = Vec::new();
    let well_behaved = if mix.well.is_empty() { 0 } else { well_behaved };
    let hostile_clients = if mix.hostile.is_empty() {
        0
    } else {
        hostile_clients
    };
    for index in 0..well_behaved {
        let (gate, tally, kinds) = (gate.clone(), tally.clone(), mix.well.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("well-{index}"))
                .spawn(move || well_loop(index, &kinds, &target, &gate, &tally))?,
        );
    }
    for index in 0..hostile_clients {
        let (gate, tally, kinds) = (gate.clone(), tally.clone(), mix.hostile.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("hostile-{index}"))
                .spawn(move || hostile_loop(index, &kinds, &target, &gate, &tally))?,
        );
    }
    Ok(threads)
}

fn well_loop(index: usize, kinds: &[&str], target: &Target, gate: &Gate, tally: &Tally) {
    let mut client = Client::new(index);
    let mut turn = index;
    while !gate.is_stopped() {
        if !gate.enter() {
            std::thread::sleep(PAUSED_POLL);
            continue;
        }
        let kind = kinds[turn % kinds.len()];
        turn += 1;
        let started = Instant::now();
        let ending = client.run(kind, target);
        gate.leave();
        tally.well(kind, ending, started.elapsed(), gate.signal());
    }
}

fn hostile_loop(index: usize, kinds: &[&str], target: &Target, gate: &Gate, tally: &Tally) {
    // Spread over the list, so that the hostile clients are not all doing the same thing.
    let mut turn = index * kinds.len() / 4;
    while !gate.is_stopped() {
        if !gate.enter() {
            std::thread::sleep(PAUSED_POLL);
            continue;
        }
        let kind = kinds[turn % kinds.len()];
        turn += 1;
        let outcome = hostile::run(kind, target);
        gate.leave();
        tally.hostile(kind, outcome);
    }
}
