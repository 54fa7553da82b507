//! Files written whole through a temporary beside them, renamed over them when done (the
//! state image, the known-tokens file): the temporary is named after the file and the
//! process, so processes sharing a data directory never write one temporary, and what a
//! killed process left is found and removed by the next write.

use std::path::Path;

/// How long a temporary file goes unwritten before it counts as abandoned: a write (an
/// image save) writes its file as it goes, so one left this long belongs to a process that stopped
/// (one in another PID namespace, sharing the directory, is not seen in `/proc`).
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// The temporary file process `pid` writes `path` through: `path`'s name followed by
/// `.<pid>.tmp`, whatever that name ends with, so that [`remove_abandoned`] finds what a
/// killed write left.
pub fn temporary(path: &Path, pid: u32) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{pid}.tmp"));
    path.with_file_name(name)
}

/// Removes the temporary files that a process killed mid-write left beside `path` (see
/// [`temporary`]): named after a process id that is not this one's nor a running one's (where
/// `/proc` tells), and unwritten for [`ABANDONED_AFTER`].
pub fn remove_abandoned(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let proc = Path::new("/proc");
    let processes_known = proc.join("self").exists();
    let prefix = format!("{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let pid = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|f| f.strip_suffix(".tmp"))
            .and_then(|p| p.parse::<u32>().ok());
        let idle = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !(processes_known && proc.join(pid.to_string()).exists())
            && idle.is_some_and(|idle| idle >= ABANDONED_AFTER)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What a process killed an hour ago while it wrote `path` left beside it (process
/// 4,294,000,000, which none is); returns its path.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn left_by_a_killed_write(path: &Path) -> std::path::PathBuf {
    let left = temporary(path, 4_294_000_000);
    std::fs::write(&left, b"half a file").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&left)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    left
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A save to a path of any name leaves a temporary the next save finds when a kill
    /// cut it short (one to `copy.bin` was named `copy.image.<pid>.tmp`, and never found).
    #[test]
    fn a_killed_save_to_any_name_is_found_by_the_next() {
        let dir = std::env::temp_dir().join(format!("maas-image-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["state.image", "copy.bin", "snapshot"] {
            let path = dir.join(name);
            let left = left_by_a_killed_write(&path);
            assert!(left.starts_with(&dir), "{}", left.display());
            remove_abandoned(&path);
            assert!(!left.exists(), "{} is left", left.display());
        }
        assert_eq!(
            temporary(&dir.join("state.image"), 7),
            dir.join("state.image.7.tmp"),
            "the name saves made before"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
