//! The per-instance memory and table limits, and the record of a denied growth that lets a
//! trap be classified as out-of-memory by cause.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::ResourceLimiter;

/// Table elements one instance may grow its tables to.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The process-wide budget of linear memory shared by all instances, so that a crowd of greedy
/// guests, each within its own limit, cannot together take the machine down.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// Takes `bytes` from the budget if they fit.
    fn take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes held by all instances now.
    pub(crate) fn in_use(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Whether use is past nine tenths of the budget: idle sessions should make room before
    /// new work is refused.
    pub(crate) fn is_nearly_full(&self) -> bool {
        self.in_use() > self.limit / 10 * 9
    }
}

/// Enforces the linear-memory limit across all of an instance's memories, and its share of the
/// process-wide budget, which it returns when dropped with its store.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    used: u64,
    /// The most `used` has been since the call in progress began.
    peak: u64,
    denied: Option<Denial>,
    budget: Option<Arc<MemoryBudget>>,
}

/// Which limit refused a growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denial {
    /// The instance's own limit.
    Instance,
    /// The process-wide budget, of this many bytes, held by all instances together.
    Budget(u64),
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes of linear memory in all, drawn from `budget` if given.
    pub(crate) fn new(limit: u64, budget: Option<Arc<MemoryBudget>>) -> Self {
        Self {
            limit,
            used: 0,
            peak: 0,
            denied: None,
            budget,
        }
    }

    /// The limit in bytes.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// The first growth this limiter refused, and which limit refused it: Rust's allocator
    /// aborts with `unreachable` when a growth is refused, so the trap alone does not say it
    /// was memory.
    pub(crate) fn denial(&self) -> Option<Denial> {
        self.denied
    }

    /// Starts a call: forgets a refusal the guest survived in a kept instance, so that it does
    /// not decide how a later failure is classified, and measures the call's peak afresh.
    pub(crate) fn begin_call(&mut self) {
        self.denied = None;
        self.peak = self.used;
    }

    /// The most linear memory the instance has held since the call began, in bytes.
    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let denial = if self.used.saturating_add(growth) > self.limit
            || maximum.is_some_and(|max| desired > max)
        {
            Some(Denial::Instance)
        } else {
            match &self.budget {
                Some(budget) if !budget.take(growth) => Some(Denial::Budget(budget.limit)),
                _ => None,
            }
        };
        match denial {
            None => {
                self.used += growth;
                self.peak = self.peak.max(self.used);
            }
            Some(_) => self.denied = self.denied.or(denial),
        }
        Ok(denial.is_none())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(self.used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared budget refuses growth past it, and dropped instances give their share back.
    #[test]
    fn budget_is_shared_and_returned() -> wasmtime::Result<()> {
        let budget = MemoryBudget::new(100);
        let mut a = MemoryLimiter::new(80, Some(budget.clone()));
        let mut b = MemoryLimiter::new(80, Some(budget.clone()));
        assert!(a.memory_growing(0, 60, None)?);
        assert!(!b.memory_growing(0, 60, None)?, "over the shared budget");
        assert_eq!(b.denial(), Some(Denial::Budget(100)));
        assert_eq!(budget.in_use(), 60);
        drop(a);
        assert_eq!(budget.in_use(), 0);
        assert!(b.memory_growing(0, 60, None)?);
        Ok(())
    }

    /// Growth is counted across memories, and the first denial is remembered.
    #[test]
    fn limit_spans_all_memories() -> wasmtime::Result<()> {
        let mut limiter = MemoryLimiter::new(100, None);
        assert!(limiter.memory_growing(0, 60, None)?);
        assert!(limiter.memory_growing(0, 40, None)?);
        assert_eq!(limiter.denial(), None);
        assert!(!limiter.memory_growing(40, 41, None)?);
        assert_eq!(limiter.denial(), Some(Denial::Instance));
        Ok(())
    }
}
