//! Replays every committed corpus file and crash through its target's check, so a finding stays
//! fixed under a plain `cargo test`.

use std::fs;
use std::panic;
use std::path::Path;

use wasm_agent_fuzz_checks::TARGETS;

/// The folders whose files are replayed, under `fuzz/`: libFuzzer's corpus, and the crashes
/// the fuzzers found (kept apart so they are never minimized away).
const FOLDERS: [&str; 2] = ["corpus", "regressions"];

/// Every committed input passes its target's check.
#[test]
fn every_committed_input_passes() -> Result<(), String> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (target, check) in TARGETS {
        for folder in FOLDERS {
            let dir = fuzz.join(folder).join(target);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.map_err(|e| e.to_string())?.path();
                let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                replayed += 1;
                if panic::catch_unwind(|| check(&data)).is_err() {
                    failures.push(path.display().to_string());
                }
            }
        }
    }
    if !failures.is_empty() {
        return Err(format!("failed: {failures:#?}"));
    }
    assert!(replayed > 0, "no corpus found under {}", fuzz.display());
    Ok(())
}

/// Every fuzz target has a check here and every check a fuzz target, so none goes unreplayed.
#[test]
fn every_fuzz_target_has_a_check() -> Result<(), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if let Some(name) = path.file_stem().and_then(|stem| stem.to_str()) {
            files.push(name.to_owned());
        }
    }
    files.sort();
    let mut checks: Vec<_> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    checks.sort();
    assert_eq!(files, checks);
    Ok(())
}
