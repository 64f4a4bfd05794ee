//! The async tasks guests register: while any is open, `/ping` reports `HealthyBusy`. Background
//! runs hold one each, and are counted here as they are scheduled and end.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The largest integer a JavaScript number holds exactly: 2^53 - 1.
const JS_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The process-wide registry of open tasks, shared by every instance and read by `/ping`.
#[derive(Debug, Default)]
pub struct AsyncTasks {
    open: Mutex<HashMap<i64, Task>>,
    // Read by `/ping` without taking the lock a guest call may hold.
    count: AtomicUsize,
    next: AtomicU64,
    ids: RandomState,
    scheduled: AtomicU64,
    ended: AtomicU64,
}

/// Background runs counted since the host started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackgroundRuns {
    /// Runs a guest scheduled.
    pub scheduled: u64,
    /// Runs that ended: returned, failed, or dropped before they started because the
    /// invocation that scheduled them did not return.
    pub ended: u64,
}

impl BackgroundRuns {
    /// Runs scheduled or running now.
    pub fn in_progress(&self) -> u64 {
        self.scheduled.saturating_sub(self.ended)
    }
}

#[derive(Debug)]
struct Task {
    name: String,
    started: Instant,
    metadata: Option<String>,
}

/// An open task, as the SDK's `get_async_task_info` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    /// The id `add` returned.
    pub id: i64,
    /// The name the guest gave.
    pub name: String,
    /// How long it has been open.
    pub running_for: Duration,
    /// The metadata the guest gave, as JSON text.
    pub metadata: Option<String>,
}

impl AsyncTasks {
    /// An empty registry.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Opens a task and returns its id: unpredictable, like the SDK's, but never negative and
    /// below 2^53, so that a JavaScript guest holds it as an exact number (componentize-js
    /// also fails on negative 64-bit arguments).
    pub(crate) fn add(&self, name: String, metadata: Option<String>) -> i64 {
        let mut open = self.lock();
        let id = loop {
            let hash = self.ids.hash_one(self.next.fetch_add(1, Ordering::Relaxed));
            let candidate = (hash & JS_SAFE_INTEGER) as i64;
            if !open.contains_key(&candidate) {
                break candidate;
            }
        };
        open.insert(
            id,
            Task {
                name,
                started: Instant::now(),
                metadata,
            },
        );
        self.count.store(open.len(), Ordering::Release);
        id
    }

    /// Completes a task; false if no task has this id.
    pub(crate) fn complete(&self, id: i64) -> bool {
        let mut open = self.lock();
        let removed = open.remove(&id);
        self.count.store(open.len(), Ordering::Release);
        if removed.is_none() {
            tracing::warn!(task_id = id, "attempted to complete unknown task id");
        }
        removed.is_some()
    }

    /// Completes every task in `ids` still open, quietly: the caller has said why, once.
    pub(crate) fn complete_all(&self, ids: &[i64]) {
        let mut open = self.lock();
        for id in ids {
            open.remove(id);
        }
        self.count.store(open.len(), Ordering::Release);
    }

    /// How many tasks are open; lock-free.
    pub fn open_count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Whether any task is open; lock-free.
    pub fn is_busy(&self) -> bool {
        self.open_count() > 0
    }

    /// Background runs counted since the host started. The ended count is read first, so a
    /// run that ends meanwhile is never counted ended without having been scheduled.
    pub fn background_runs(&self) -> BackgroundRuns {
        let ended = self.ended.load(Ordering::Acquire);
        BackgroundRuns {
            scheduled: self.scheduled.load(Ordering::Acquire),
            ended,
        }
    }

    /// The open tasks, oldest first.
    pub fn snapshot(&self) -> Vec<TaskInfo> {
        let now = Instant::now();
        let mut tasks: Vec<TaskInfo> = self
            .lock()
            .iter()
            .map(|(id, task)| TaskInfo {
                id: *id,
                name: task.name.clone(),
                running_for: now.saturating_duration_since(task.started),
                metadata: task.metadata.clone(),
            })
            .collect();
        tasks.sort_by_key(|task| std::cmp::Reverse(task.running_for));
        tasks
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Task>> {
        // A panic while holding the lock leaves the map consistent (each operation is one call).
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The tasks one instance opened; those still open when it is dropped are completed, since a
/// dead instance could otherwise keep the server `HealthyBusy` forever.
#[derive(Debug)]
pub(crate) struct TaskScope {
    registry: Arc<AsyncTasks>,
    opened: Vec<i64>,
}

impl TaskScope {
    /// A scope registering into `registry`.
    pub(crate) fn new(registry: Arc<AsyncTasks>) -> Self {
        Self {
            registry,
            opened: Vec::new(),
        }
    }

    /// Opens a task in the registry and remembers it.
    pub(crate) fn add(&mut self, name: String, metadata: Option<String>) -> i64 {
        let id = self.registry.add(name, metadata);
        self.opened.push(id);
        id
    }

    /// Whether this instance has `limit` tasks open. Any instance may complete a task (as in
    /// the SDK), so at the limit those another completed are forgotten first.
    pub(crate) fn is_full(&mut self, limit: usize) -> bool {
        if self.opened.len() < limit {
            return false;
        }
        self.forget_completed();
        self.opened.len() >= limit
    }

    fn forget_completed(&mut self) {
        let open = self.registry.lock();
        self.opened.retain(|id| open.contains_key(id));
    }

    /// Completes a task in the registry (any instance's, as in the SDK).
    pub(crate) fn complete(&mut self, id: i64) -> bool {
        self.opened.retain(|open| *open != id);
        self.registry.complete(id)
    }
}

impl Drop for TaskScope {
    fn drop(&mut self) {
        // Most instances open no task: they leave without touching the shared registry.
        if self.opened.is_empty() {
            return;
        }
        // One line however many were left: a guest that opened a thousand must not write a
        // thousand lines to the log.
        self.forget_completed();
        let Some(&first) = self.opened.first() else {
            return;
        };
        tracing::warn!(
            tasks = self.opened.len(),
            first_task_id = first,
            "completing the tasks a dropped instance left open"
        );
        self.registry.complete_all(&self.opened);
    }
}

/// A task the host opened itself for a background run, completed when dropped, which ends
/// the run.
#[derive(Debug)]
pub(crate) struct TrackedTask {
    registry: Arc<AsyncTasks>,
    id: i64,
}

impl TrackedTask {
    /// Opens a task named `name` in `registry`.
    pub(crate) fn open(registry: &Arc<AsyncTasks>, name: String) -> Self {
        registry.scheduled.fetch_add(1, Ordering::AcqRel);
        Self {
            registry: registry.clone(),
            id: registry.add(name, None),
        }
    }

    /// The task's id.
    pub(crate) fn id(&self) -> i64 {
        self.id
    }
}

impl Drop for TrackedTask {
    fn drop(&mut self) {
        self.registry.complete(self.id);
        self.registry.ended.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adding makes the registry busy; completing the last task makes it idle again.
    #[test]
    fn busy_while_a_task_is_open() {
        let tasks = AsyncTasks::new();
        assert!(!tasks.is_busy());
        let a = tasks.add("a".into(), Some("{\"k\":1}".into()));
        let b = tasks.add("b".into(), None);
        assert_ne!(a, b);
        assert_eq!(tasks.open_count(), 2);
        assert!(tasks.complete(a));
        assert!(!tasks.complete(a), "a second completion is refused");
        assert!(tasks.is_busy());
        assert!(tasks.complete(b));
        assert!(!tasks.is_busy());
    }

    /// A scope dropped with tasks still open completes them; completed ones stay completed.
    #[test]
    fn dropped_scope_completes_its_open_tasks() {
        let tasks = AsyncTasks::new();
        let other = tasks.add("other".into(), None);
        let mut scope = TaskScope::new(tasks.clone());
        let done = scope.add("done".into(), None);
        scope.add("left-open".into(), None);
        assert!(scope.complete(done));
        drop(scope);
        let left: Vec<_> = tasks.snapshot().into_iter().map(|t| t.id).collect();
        assert_eq!(left, vec![other]);
    }

    /// A background run's task counts the run scheduled while it is open and ended once it is
    /// dropped.
    #[test]
    fn background_runs_are_counted_from_scheduled_to_ended() {
        let tasks = AsyncTasks::new();
        let first = TrackedTask::open(&tasks, "background:a".into());
        let second = TrackedTask::open(&tasks, "background:b".into());
        drop(first);
        let runs = tasks.background_runs();
        assert_eq!((runs.scheduled, runs.ended, runs.in_progress()), (2, 1, 1));
        drop(second);
        assert_eq!(tasks.background_runs().in_progress(), 0);
        assert!(!tasks.is_busy());
    }
}
