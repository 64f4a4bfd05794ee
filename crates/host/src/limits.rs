//! The per-instance memory and table limits, and the record of a denied growth that lets a
//! trap be classified as out-of-memory by cause.

use wasmtime::ResourceLimiter;

/// Table elements one instance may grow its tables to.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Enforces the linear-memory limit across all of an instance's memories.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: u64,
    used: u64,
    denied: bool,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes of linear memory in all.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            used: 0,
            denied: false,
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Whether a growth was denied: Rust's allocator aborts with `unreachable` when it is, so the
    /// trap alone does not say it was memory.
    pub fn was_denied(&self) -> bool {
        self.denied
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
        let allowed = self.used.saturating_add(growth) <= self.limit
            && maximum.is_none_or(|max| desired <= max);
        if allowed {
            self.used += growth;
        } else {
            self.denied = true;
        }
        Ok(allowed)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Growth is counted across memories, and the first denial is remembered.
    #[test]
    fn limit_spans_all_memories() -> wasmtime::Result<()> {
        let mut limiter = MemoryLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None)?);
        assert!(limiter.memory_growing(0, 40, None)?);
        assert!(!limiter.was_denied());
        assert!(!limiter.memory_growing(40, 41, None)?);
        assert!(limiter.was_denied());
        Ok(())
    }
}
