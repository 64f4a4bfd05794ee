//! `serve --watch`: the development loop. The handler's file is looked at a few times a second;
//! once it has changed and holds still, it is loaded into a new host beside the serving one,
//! which then replaces it. A file that does not load is logged and the old host goes on. A
//! replaced host is unloaded once its last call has ended; until then it keeps its own memory
//! budget, slots and threads, and `/ping` and the metrics see only the new one.

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

/// What the file looks like from outside: it has changed when any of these has. The change
/// time as well as the modification time, since a rewrite may set the latter back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    changed: (i64, i64),
    len: u64,
    inode: u64,
}

impl Stamp {
    /// The file's stamp now, or `None` while there is no file (between a delete and a write).
    fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: metadata.modified().ok()?,
            changed: (metadata.ctime(), metadata.ctime_nsec()),
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
        unload(state.release_retired());
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
    // runtime's, so /ping and the requests in progress do not wait for it; and a detached one,
    // which a shutdown does not wait for either.
    let (done, loaded) = tokio::sync::oneshot::channel();
    let (owned_path, config) = (path.to_owned(), config.clone());
    let spawned = std::thread::Builder::new()
        .name("wasm-agent-reload".into())
        .spawn(move || drop(done.send(Host::load_file(&owned_path, config))));
    let failed = |error: String| {
        tracing::error!(
            handler = %path.display(),
            error,
            "reload failed: still serving the previous handler"
        );
    };
    let host = match (spawned, loaded.await) {
        (Ok(_), Ok(Ok(host))) => host,
        (Ok(_), Ok(Err(error))) => return failed(format!("{:#}", Failure::load(path, error))),
        (Ok(_), Err(_)) => return failed("the load panicked".into()),
        (Err(error), _) => return failed(format!("cannot start a thread to load it: {error}")),
    };
    let sessions = state.host().sessions();
    if state.replace_host(host).is_err() {
        tracing::info!(handler = %path.display(), "reload abandoned: the server is stopping");
        return;
    }
    tracing::info!(
        handler = %path.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        sessions_dropped = sessions,
        "handler reloaded: new invocations run the new code, running ones finish on the old, \
         sessions start afresh"
    );
}

/// Drops replaced hosts on a thread of their own: unloading stops their epoch thread (a join)
/// and unmaps their instance pools, which the control runtime should not wait for.
fn unload(hosts: Vec<Host>) {
    if hosts.is_empty() {
        return;
    }
    let count = hosts.len();
    let dropping = std::thread::Builder::new()
        .name("wasm-agent-unload".into())
        .spawn(move || drop(hosts));
    match dropping {
        Ok(_) => tracing::info!(count, "previous handler unloaded: its last call has ended"),
        Err(error) => tracing::warn!(%error, "cannot start a thread to unload replaced handlers"),
    }
}
