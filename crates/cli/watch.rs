//! `serve --watch`: the development loop. The handler's file is looked at a few times a second;
//! once it has changed and holds still, it is loaded into a new host beside the serving one,
//! which then replaces it. A file that does not load is logged and the old host goes on.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio::time::MissedTickBehavior;
use wasm_agent_host::{Host, HostConfig};
use wasm_agent_server::AppState;

use crate::failure::Failure;

/// How often the handler's file is looked at. Polling one file's metadata is a system call a
/// tick. Unlike a change notification on the file, it sees a file replaced by a rename (as
/// editors and build tools write), and it works on mounted volumes, which notify nothing.
/// A quarter second is quicker than a person switches from the build to the client.
const POLL: Duration = Duration::from_millis(250);

/// What the file looks like from outside: it has changed when any of these has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

impl Stamp {
    /// The file's stamp now, or `None` while there is no file (between a delete and a write).
    fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: metadata.modified().ok()?,
            len: metadata.len(),
            inode: metadata.ino(),
        })
    }
}

/// Reloads the handler at `path` into `state` each time the file changes, for as long as the
/// server runs. `config` is the one the serving host was loaded with.
pub(crate) async fn watch(path: PathBuf, config: HostConfig, state: AppState) {
    let mut seen = Stamp::of(&path);
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = Stamp::of(&path);
        if now == seen {
            continue;
        }
        // A build may still be writing the file: it is loaded once it holds still for a tick.
        ticks.tick().await;
        if Stamp::of(&path) != now {
            continue;
        }
        seen = now;
        if now.is_none() {
            tracing::warn!(
                handler = %path.display(),
                "the handler's file is gone: still serving the loaded handler"
            );
            continue;
        }
        reload(&path, &config, &state).await;
    }
}

/// Loads the handler afresh and, if it loads, serves it in place of the old one.
async fn reload(path: &Path, config: &HostConfig, state: &AppState) {
    let started = Instant::now();
    // Compiling takes a core for up to seconds: on a thread of its own, never the control
    // runtime's, so /ping and the requests in progress do not wait for it.
    let load = {
        let (path, config) = (path.to_owned(), config.clone());
        tokio::task::spawn_blocking(move || Host::load_file(&path, config))
    };
    let host = match load.await {
        Ok(Ok(host)) => host,
        Ok(Err(error)) => {
            tracing::error!(
                handler = %path.display(),
                error = format!("{:#}", Failure::load(path, error)),
                "reload failed: still serving the previous handler"
            );
            return;
        }
        Err(panicked) => {
            tracing::error!(
                handler = %path.display(),
                error = %panicked,
                "reload failed: still serving the previous handler"
            );
            return;
        }
    };
    let old = state.replace_host(host);
    tracing::info!(
        handler = %path.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        sessions_dropped = old.sessions(),
        "handler reloaded: new invocations run the new code, running ones finish on the old, \
         sessions start afresh"
    );
    // Unloading joins the old host's threads and unmaps its instance pool: off the control
    // runtime too, when nothing else holds it by now (else whatever lets go of it last).
    tokio::task::spawn_blocking(move || drop(old));
}
