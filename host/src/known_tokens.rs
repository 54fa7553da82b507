//! The data directory's file of known agent tokens (`http-known-tokens`): one SHA-256
//! digest per line, in hex, readable by its owner only. A token is noted there when the
//! core issues it (an agent is registered) and when it authenticates; the HTTP server
//! reads the file to let a known token through while its source address is beyond its
//! refusal budget (see `mcp::http::refusals`). Every process working on the data
//! directory (the server, the CLI, another server) appends to it, so a server learns of
//! an agent registered elsewhere without a restart.

use maas_core::audit::hex;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// A token's digest.
pub type TokenDigest = [u8; 32];

/// Longest token hashed, as the core's limit: a longer one is never known.
pub const MAX_TOKEN: usize = 512;

/// Most digests worth keeping: the HTTP server holds at most this many. When the file
/// holds twice as many lines, [`append`] cuts it to the last this many, so registrations
/// and authentications without end do not grow it without end.
pub const MOST: usize = 16_384;

/// The length of a line: 64 hex digits and a newline.
const LINE: u64 = 65;

/// The digest of `token`, if it is not longer than [`MAX_TOKEN`].
pub fn digest(token: &str) -> Option<TokenDigest> {
    (token.len() <= MAX_TOKEN).then(|| Sha256::digest(token.as_bytes()).into())
}

fn parse_digest(line: &str) -> Option<TokenDigest> {
    let line = line.trim();
    if line.len() != 64 || !line.is_ascii() {
        return None;
    }
    let mut d = [0u8; 32];
    for (i, byte) in d.iter_mut().enumerate() {
        *byte = u8::from_str_radix(line.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(d)
}

/// The last `most` digests in `path`, oldest first (a missing file holds none; lines that
/// are not a digest are skipped).
pub fn read_last(path: &Path, most: usize) -> Vec<TokenDigest> {
    // The file is cut at twice `MOST` lines; one far past that is not maas's.
    let most_bytes = 4 * MOST as u64 * LINE;
    let text = crate::owned::read_text(path, most_bytes)
        .ok()
        .flatten()
        .unwrap_or_default();
    let all: Vec<TokenDigest> = text.lines().filter_map(parse_digest).collect();
    let skip = all.len().saturating_sub(most);
    all.into_iter().skip(skip).collect()
}

/// Appends `d` to `path`, cutting the file to its last [`MOST`] digests when it has
/// grown to twice that.
pub fn append(path: &Path, d: &TokenDigest) -> std::io::Result<()> {
    let mut file = crate::owned::open_write(path, true)?;
    writeln!(file, "{}", hex(d))?;
    if file.metadata()?.len() >= 2 * MOST as u64 * LINE {
        let last: HashSet<TokenDigest> = read_last(path, MOST).into_iter().collect();
        rewrite(path, &last)?;
    }
    Ok(())
}

/// Notes `token` in `path` (nothing for a token longer than [`MAX_TOKEN`]): [`append`]
/// of its digest.
pub fn note(path: &Path, token: &str) -> std::io::Result<()> {
    match digest(token) {
        Some(d) => append(path, &d),
        None => Ok(()),
    }
}

/// Replaces the file's contents with `digests`, atomically.
pub fn rewrite(path: &Path, digests: &HashSet<TokenDigest>) -> std::io::Result<()> {
    // A temporary of this process alone, written by one call at a time: servers sharing
    // a data directory rewrote one shared temporary, and one's rename then found it gone.
    static REWRITING: Mutex<()> = Mutex::new(());
    let _one = REWRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let text: String = digests.iter().map(|d| hex(d) + "\n").collect();
    crate::temporaries::remove_abandoned(path);
    let temp = crate::temporaries::temporary(path, std::process::id());
    let written = crate::owned::create_new(&temp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// What a file looked like when it was read: a changed length or modification time
/// means another process wrote to it since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp(Option<(u64, Option<SystemTime>)>);

impl Stamp {
    /// The file's stamp now (a missing file has an empty one).
    pub fn of(path: &Path) -> Stamp {
        Stamp(
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.len(), m.modified().ok())),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn noted_tokens_are_digests_in_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("maas-note-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("known");
        let _ = std::fs::remove_file(&file);
        assert_eq!(Stamp::of(&file), Stamp::default());
        note(&file, "maas_one").unwrap();
        let after_one = Stamp::of(&file);
        assert_ne!(after_one, Stamp::default());
        note(&file, &"x".repeat(MAX_TOKEN + 1)).unwrap();
        assert_eq!(Stamp::of(&file), after_one, "a token too long is not noted");
        note(&file, "maas_two").unwrap();
        assert_ne!(Stamp::of(&file), after_one);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("maas_"), "digests only: {text}");
        assert_eq!(
            read_last(&file, 10),
            [digest("maas_one").unwrap(), digest("maas_two").unwrap()]
        );
        assert_eq!(read_last(&file, 1), [digest("maas_two").unwrap()]);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        for i in 0..2 * MOST {
            note(&file, &format!("maas_{i}")).unwrap();
        }
        let kept = read_last(&file, 3 * MOST);
        assert!(
            kept.len() <= 2 * MOST && kept.len() >= MOST,
            "{}",
            kept.len()
        );
        assert!(kept.contains(&digest(&format!("maas_{}", 2 * MOST - 1)).unwrap()));
        rewrite(&file, &HashSet::from([digest("maas_two").unwrap()])).unwrap();
        assert_eq!(read_last(&file, 10), [digest("maas_two").unwrap()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    /// Servers sharing a data directory rewrite the file at once: each through a
    /// temporary of its own (one shared name made the other's rename fail), and none is
    /// left behind, nor one a killed process left.
    #[test]
    fn rewrites_at_once_each_use_a_temporary_of_their_own() {
        let dir = std::env::temp_dir().join(format!("maas-rewrite-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("http-known-tokens");
        // What another writer's temporary under the old shared name would block.
        std::fs::create_dir(dir.join("http-known-tokens.tmp")).unwrap();
        // What a process killed mid-rewrite left an hour ago: removed by the next.
        let left = crate::temporaries::left_by_a_killed_write(&file);
        assert_eq!(left, dir.join("http-known-tokens.4294000000.tmp"));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let file = file.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let d = digest(&format!("maas_{t}_{i}")).unwrap();
                        rewrite(&file, &HashSet::from([d])).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(read_last(&file, 10).len(), 1);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["http-known-tokens", "http-known-tokens.tmp"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
