//! Session-scoped instances: one per session id, kept between the session's invocations so its
//! globals (a conversation) persist, entered by one invocation at a time in arrival order, and
//! dropped when idle, too old, pushed out by newer sessions, or broken by a failure; each drop
//! is logged and counted by its cause.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::HostConfig;
use crate::error::InvokeError;
use crate::instance::Instance;
use crate::limits::MemoryBudget;
use tokio_util::sync::CancellationToken;

/// The sessions of one host.
#[derive(Debug)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    max_sessions: usize,
    queue: usize,
    idle_timeout: Duration,
    max_lifetime: Duration,
    dropped: DropCounts,
}

/// Session instances dropped, one count for each cause.
#[derive(Debug, Default)]
struct DropCounts {
    idle: AtomicU64,
    lifetime: AtomicU64,
    evicted: AtomicU64,
    memory: AtomicU64,
    failure: AtomicU64,
}

impl DropCounts {
    fn of(&self, why: Dropped) -> &AtomicU64 {
        match why {
            Dropped::Idle => &self.idle,
            Dropped::Lifetime => &self.lifetime,
            Dropped::Evicted => &self.evicted,
            Dropped::Memory => &self.memory,
            Dropped::Failure => &self.failure,
        }
    }
}

/// Session instances dropped since the host started, by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionEvictions {
    /// Idle for the idle timeout.
    pub idle: u64,
    /// Past the maximum lifetime.
    pub lifetime: u64,
    /// The least recently used, to make room for a new session past the maximum.
    pub capacity: u64,
    /// The least recently used, to make room in the memory budget.
    pub memory: u64,
    /// After an invocation in it failed (a trap, a timeout, a limit), which may have left it
    /// broken.
    pub failure: u64,
}

/// One session: its instance, if it has one, behind a lock that queues its invocations fairly.
pub(crate) struct Session {
    id: Arc<str>,
    /// Held by the invocation running in it; tokio's mutex grants waiters in arrival order.
    pub slot: tokio::sync::Mutex<Option<Instance>>,
    // Invocations holding or waiting for the slot; only raised under the table's lock, so a
    // session found with none there is free to be dropped.
    pending: AtomicUsize,
    last_used: Mutex<Instant>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// Why a session's instance was dropped, for the log and the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropped {
    Idle,
    Lifetime,
    Evicted,
    Memory,
    Failure,
}

impl Dropped {
    fn reason(self) -> &'static str {
        match self {
            Self::Idle => "idle timeout",
            Self::Lifetime => "maximum lifetime",
            Self::Evicted => "least recently used, to make room for a new session",
            Self::Memory => "least recently used, to make room in the memory budget",
            Self::Failure => {
                "an invocation in it failed; the session's next invocation starts in a fresh \
                 instance"
            }
        }
    }
}

/// An invocation's claim on its session: while it exists the session is not dropped. Counts
/// the invocation out and marks the session used when it ends.
#[derive(Debug)]
pub(crate) struct Entry {
    session: Arc<Session>,
}

impl std::ops::Deref for Entry {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.session
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        *self
            .session
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.session.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Sessions {
    pub(crate) fn new(config: &HostConfig) -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            max_sessions: config.max_sessions as usize,
            queue: config.session_queue,
            idle_timeout: config.session_idle_timeout,
            max_lifetime: config.session_max_lifetime,
            dropped: DropCounts::default(),
        }
    }

    /// Enters the session `id`, creating it if new; when that would exceed the maximum, the
    /// least recently used session with no invocation is dropped to make room. Refused when
    /// every session is in use, or when this one already has as many invocations waiting as
    /// its queue allows.
    pub(crate) fn enter(&self, id: &str) -> Result<Entry, InvokeError> {
        let mut evicted = None;
        let entry = {
            let mut table = self.lock();
            let session = match table.get(id) {
                Some(session) => session.clone(),
                None => {
                    if table.len() >= self.max_sessions {
                        let (victim, instance) = evict_lru(&mut table, false).ok_or_else(|| {
                            InvokeError::Capacity(format!(
                                "all {} sessions have invocations in progress",
                                self.max_sessions
                            ))
                        })?;
                        evicted = instance.map(|instance| (victim, instance));
                    }
                    let session = Arc::new(Session {
                        id: id.into(),
                        slot: tokio::sync::Mutex::new(None),
                        pending: AtomicUsize::new(0),
                        last_used: Mutex::new(Instant::now()),
                    });
                    table.insert(session.id.clone(), session.clone());
                    session
                }
            };
            // One may run and `queue` wait.
            let pending = session.pending.load(Ordering::Acquire);
            if pending > self.queue {
                return Err(InvokeError::SessionBusy(pending - 1));
            }
            session.pending.fetch_add(1, Ordering::AcqRel);
            Entry { session }
        };
        // Dropped outside the lock: returning an instance to the pool takes a few microseconds.
        if let Some((victim, instance)) = evicted {
            self.dropped(&victim, Dropped::Evicted);
            drop(instance);
        }
        Ok(entry)
    }

    /// Drops sessions idle past the idle timeout and instances past the maximum lifetime, if no
    /// invocation holds or awaits them. Returns how many were dropped.
    pub(crate) fn reap(&self, now: Instant) -> usize {
        let mut dropped = Vec::new();
        {
            let mut table = self.lock();
            table.retain(|id, session| {
                if session.pending.load(Ordering::Acquire) > 0 {
                    return true;
                }
                let idle = now.saturating_duration_since(session.last_used());
                // Nothing holds the slot (pending is 0 and only rises under this lock).
                let Ok(mut slot) = session.slot.try_lock() else {
                    return true;
                };
                let expired = slot
                    .as_ref()
                    .is_some_and(|i| self.has_expired(i.created(), now));
                let why = if idle >= self.idle_timeout {
                    Dropped::Idle
                } else if expired {
                    Dropped::Lifetime
                } else {
                    return true;
                };
                dropped.push((id.clone(), why, slot.take()));
                false
            });
        }
        let count = dropped.len();
        for (id, why, instance) in dropped {
            if instance.is_some() {
                self.dropped(&id, why);
            }
        }
        count
    }

    /// Drops the least recently used idle sessions' instances while the memory budget is
    /// nearly full, so that memory idle conversations hold goes to new work. Returns how many.
    pub(crate) fn relieve(&self, budget: &MemoryBudget) -> usize {
        let mut dropped = 0;
        while budget.is_nearly_full() {
            let Some((victim, instance)) = evict_lru(&mut self.lock(), true) else {
                break;
            };
            self.dropped(&victim, Dropped::Memory);
            drop(instance);
            dropped += 1;
        }
        dropped
    }

    /// Whether an instance created at `created` has outlived the maximum lifetime at `now`.
    pub(crate) fn has_expired(&self, created: Instant, now: Instant) -> bool {
        now.saturating_duration_since(created) >= self.max_lifetime
    }

    /// Sessions that exist (with or without an instance).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Logs and counts the instance of session `id` dropped for `why`: at WARN after a
    /// failure, which loses the session's state.
    pub(crate) fn dropped(&self, id: &str, why: Dropped) {
        self.dropped.of(why).fetch_add(1, Ordering::Relaxed);
        let reason = why.reason();
        if why == Dropped::Failure {
            tracing::warn!(session_id = id, reason, "session instance dropped");
        } else {
            tracing::info!(session_id = id, reason, "session instance dropped");
        }
    }

    /// Session instances dropped since the host started, by cause.
    pub(crate) fn evictions(&self) -> SessionEvictions {
        let count = |why: Dropped| self.dropped.of(why).load(Ordering::Relaxed);
        SessionEvictions {
            idle: count(Dropped::Idle),
            lifetime: count(Dropped::Lifetime),
            capacity: count(Dropped::Evicted),
            memory: count(Dropped::Memory),
            failure: count(Dropped::Failure),
        }
    }

    /// How often the reaper should look: often enough to drop a session soon after its timeout.
    pub(crate) fn reap_interval(&self) -> Duration {
        (self.idle_timeout.min(self.max_lifetime) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<Session>>> {
        // Every critical section leaves the map consistent.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Session {
    fn last_used(&self) -> Instant {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes the least recently used session no invocation holds or awaits (and that has an
/// instance, if `with_instance`), with its instance.
fn evict_lru(
    table: &mut HashMap<Arc<str>, Arc<Session>>,
    with_instance: bool,
) -> Option<(Arc<str>, Option<Instance>)> {
    let victim = table
        .values()
        .filter(|session| session.pending.load(Ordering::Acquire) == 0)
        .filter(|session| {
            !with_instance || session.slot.try_lock().is_ok_and(|slot| slot.is_some())
        })
        .min_by_key(|session| session.last_used())?
        .id
        .clone();
    let session = table.remove(&victim)?;
    let instance = session
        .slot
        .try_lock()
        .ok()
        .and_then(|mut slot| slot.take());
    Some((victim, instance))
}

/// Drops expired sessions, and idle ones while the memory budget is nearly full, until `stop`
/// is cancelled (when the host is dropped).
pub(crate) async fn reap(
    sessions: Arc<Sessions>,
    memory: Option<Arc<MemoryBudget>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(sessions.reap_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                sessions.reap(Instant::now());
                if let Some(budget) = &memory {
                    sessions.relieve(budget);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each drop is counted under its own cause; a session reaped with no instance drops none
    /// and is not counted.
    #[test]
    fn drops_are_counted_by_cause() -> Result<(), InvokeError> {
        let sessions = Sessions::new(&HostConfig::default());
        for why in [
            Dropped::Idle,
            Dropped::Idle,
            Dropped::Lifetime,
            Dropped::Evicted,
            Dropped::Memory,
            Dropped::Failure,
        ] {
            sessions.dropped("s", why);
        }
        drop(sessions.enter("never-ran")?);
        assert_eq!(sessions.len(), 1);
        let later = Instant::now() + HostConfig::default().session_idle_timeout;
        assert_eq!(sessions.reap(later), 1);
        let counted = SessionEvictions {
            idle: 2,
            lifetime: 1,
            capacity: 1,
            memory: 1,
            failure: 1,
        };
        assert_eq!(sessions.evictions(), counted);
        Ok(())
    }
}
