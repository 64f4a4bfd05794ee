//! Compiled components on disk, so a restart with the same component does not compile again
//! (Python and JavaScript components take ~10 s with Cranelift).
//!
//! An entry is native code the host will run, so the directory must be private to this user
//! (0700, created so); one that is not is not used. Entries are keyed by the component's
//! SHA-256 and the engine's compatibility hash (the wasmtime version, the target and every
//! setting that changes the code, fuel metering among them), and written whole under a
//! temporary name and renamed, so processes sharing the directory never see half an entry.

use std::fs;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;

/// Entries written by this process, to name temporary files apart.
static WRITES: AtomicU64 = AtomicU64::new(0);

/// What the compile cache gave when a component was loaded, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileCacheLookup {
    /// None was consulted: no cache is configured (or it is unusable), or the component was
    /// precompiled.
    Skipped,
    /// The machine code was read from the cache.
    Hit,
    /// The component was compiled, and stored in the cache for the next start.
    Miss,
}

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// Opens (creating, 0700) the cache at `dir`; `None`, with a log line, if it cannot be had
    /// or is open to other users: the host then compiles every time.
    pub(crate) fn open(dir: &Path) -> Option<Self> {
        if let Err(error) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            tracing::warn!(dir = %dir.display(), %error, "compile cache unavailable; compiling");
            return None;
        }
        let metadata = fs::metadata(dir).ok()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        if metadata.uid() != uid || metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                dir = %dir.display(),
                "compile cache is not private to this user (it must be 0700 and ours); not used"
            );
            return None;
        }
        Some(Self {
            dir: dir.to_owned(),
        })
    }

    /// Where the entry for `bytes` compiled by `engine` is, whether or not it exists.
    pub(crate) fn entry(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let mut digest = Sha256::new();
        digest.update(bytes);
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        digest.update(engine_hash.finish().to_le_bytes());
        let key: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{key}.cwasm"))
    }

    /// Writes an entry atomically; a failure (a read-only disk) is logged and otherwise ignored.
    pub(crate) fn store(&self, entry: &Path, serialized: &[u8]) {
        // A name no other writer uses (processes in containers sharing the directory may have
        // the same pid), created exclusively, so no two writers ever share a temporary file.
        let mut unique = RandomState::new().build_hasher();
        unique.write_u64(WRITES.fetch_add(1, Ordering::Relaxed));
        let temporary = self.dir.join(format!(
            ".{}-{:016x}.tmp",
            std::process::id(),
            unique.finish()
        ));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .and_then(|mut file| {
                file.write_all(serialized)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temporary, entry));
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            tracing::warn!(entry = %entry.display(), %error, "cannot write to the compile cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("wasm-agent-cache-{name}-{}", std::process::id()))
    }

    /// The directory is created private; a shared one is refused.
    #[test]
    fn only_a_private_directory_is_used() -> std::io::Result<()> {
        let dir = scratch("private");
        let _ = fs::remove_dir_all(&dir);
        assert!(CompileCache::open(&dir).is_some());
        assert_eq!(fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        assert!(CompileCache::open(&dir).is_none());
        fs::remove_dir_all(&dir)
    }

    /// Keys differ by component and by engine configuration (fuel metering changes the code).
    #[test]
    fn key_covers_bytes_and_engine() -> wasmtime::Result<()> {
        let dir = scratch("key");
        let cache = CompileCache::open(&dir).ok_or_else(|| wasmtime::format_err!("no cache"))?;
        let plain = Engine::default();
        let mut fueled = wasmtime::Config::new();
        fueled.consume_fuel(true);
        let fueled = Engine::new(&fueled)?;
        let a = cache.entry(&plain, b"a");
        assert_eq!(a, cache.entry(&plain, b"a"));
        assert_ne!(a, cache.entry(&plain, b"b"));
        assert_ne!(a, cache.entry(&fueled, b"a"));
        cache.store(&a, b"entry");
        assert_eq!(fs::read(&a)?, b"entry");
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }
}
