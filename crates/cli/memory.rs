//! How much memory this process may use, for the default guest memory budget: the machine's,
//! or its control group's limit where that is lower. In a container the machine's figure is
//! the node's, and a budget sized from it would let guests grow until the kernel kills the
//! whole server, where the budget would have refused one invocation.

use std::path::Path;

/// Where the control groups are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The memory this process may use: the least of the machine's and its control group's limit,
/// or `None` where neither can be read.
pub(crate) fn available() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total(&text));
    let group = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| cgroup_limit(&text, Path::new(CGROUP_ROOT)));
    machine.into_iter().chain(group).min()
}

/// `MemTotal` from /proc/meminfo, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The memory limit of the control group /proc/self/cgroup names, v2 or v1: the least of its
/// own and its ancestors' up to the mount, since each applies. Where the group's path is not
/// under the mount (a container with its own cgroup namespace sees its group at the mount,
/// whatever the path says), the mount's.
fn cgroup_limit(self_cgroup: &str, root: &Path) -> Option<u64> {
    self_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let (mount, file) = if id == "0" && controllers.is_empty() {
            (root.to_owned(), "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (root.join("memory"), "memory.limit_in_bytes")
        } else {
            return None;
        };
        let nested = mount.join(path.trim_start_matches('/'));
        let group = if nested.is_dir() {
            nested
        } else {
            mount.clone()
        };
        group
            .ancestors()
            .take_while(|dir| dir.starts_with(&mount))
            .filter_map(|dir| limit_in(&dir.join(file)))
            .min()
    })
}

/// A limit file's value; `None` for no limit (`max`, or v1's near-`i64::MAX`) or no file.
fn limit_in(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let value: u64 = text.trim().parse().ok()?;
    // cgroup v1 writes "no limit" as the largest page-aligned i64.
    (value < 1 << 62).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MemTotal is read in KiB.
    #[test]
    fn reads_mem_total() {
        let meminfo = "MemTotal:       16384 kB\nMemFree:         1024 kB\n";
        assert_eq!(mem_total(meminfo), Some(16384 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
    }

    /// v2 and v1 limits are found under the group's path or at the mount; "max" and v1's
    /// unlimited value are no limit.
    #[test]
    fn reads_cgroup_limits() -> Result<(), Box<dyn std::error::Error>> {
        let root = std::env::temp_dir().join(format!("wasm-agent-cgroup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("pod/app"))?;
        std::fs::write(root.join("pod/app/memory.max"), "536870912\n")?;
        assert_eq!(cgroup_limit("0::/pod/app\n", &root), Some(512 << 20));
        std::fs::write(root.join("pod/app/memory.max"), "max\n")?;
        assert_eq!(cgroup_limit("0::/pod/app\n", &root), None);
        // A v2 group in its own namespace: the path is not under the mount, the file is at it.
        std::fs::write(root.join("memory.max"), "1073741824\n")?;
        assert_eq!(cgroup_limit("0::/elsewhere\n", &root), Some(1 << 30));
        // An ancestor's limit applies to a group with none of its own, and the least wins.
        assert_eq!(cgroup_limit("0::/pod/app\n", &root), Some(1 << 30));
        std::fs::write(root.join("pod/memory.max"), "268435456\n")?;
        assert_eq!(cgroup_limit("0::/pod/app\n", &root), Some(256 << 20));

        std::fs::create_dir_all(root.join("memory"))?;
        let v1 = "12:pids:/x\n4:memory:/docker/abc\n";
        std::fs::write(root.join("memory/memory.limit_in_bytes"), "268435456\n")?;
        assert_eq!(cgroup_limit(v1, &root), Some(256 << 20));
        std::fs::write(
            root.join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )?;
        assert_eq!(cgroup_limit(v1, &root), None);
        std::fs::remove_dir_all(&root)?;
        Ok(())
    }
}
