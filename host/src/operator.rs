//! The operator token of a data dir: created at first start with owner-only permissions.
//! An existing token file must hold a well-formed token: an empty or malformed one is an
//! error naming the file, never an empty operator token.

use std::io::{Error, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file holding the operator token.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("operator-token")
}

/// Shortest operator token accepted from the file, in bytes.
const MIN_LEN: usize = 16;
/// Longest operator token accepted from the file, in bytes.
const MAX_LEN: usize = 512;

/// The token in a token file's text, or why it is not one.
fn parse(text: &str, path: &Path) -> std::io::Result<String> {
    let token = text.trim();
    let why = if token.is_empty() {
        Some("is empty".to_string())
    } else if token.len() < MIN_LEN || token.len() > MAX_LEN {
        Some(format!(
            "holds a token of {} bytes, not {MIN_LEN} to {MAX_LEN}",
            token.len()
        ))
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        Some("holds a token with spaces or characters other than printable ASCII".to_string())
    } else {
        None
    };
    match why {
        None => Ok(token.to_string()),
        Some(why) => Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "the operator token file {} {why}; delete it to have a new token created at \
                 the next start, or write one with `maas operator rotate-token`",
                path.display()
            ),
        )),
    }
}

/// Reads an existing token file: `None` if there is none. A file found empty is read
/// again for a moment, since another process may be writing it right now.
fn read(path: &Path) -> std::io::Result<Option<String>> {
    read_tries(path, 40)
}

/// Reads an existing token file, made owner-only as it is read: `None` if there is none.
/// A file found empty is read up to `tries` times, 25 ms apart.
fn read_tries(path: &Path, tries: u32) -> std::io::Result<Option<String>> {
    for attempt in 1..=tries {
        // Never through a link, nor a FIFO or a file of another user's (see `owned`);
        // a token file far longer than a token is not one.
        match crate::owned::read_text(path, 8 * MAX_LEN as u64) {
            Ok(Some(t)) if t.is_empty() && attempt < tries => {
                std::thread::sleep(Duration::from_millis(25));
            }
            Ok(Some(t)) => {
                crate::datadir::secure_file(path)?;
                return parse(&t, path).map(Some);
            }
            Ok(None) => return Ok(None),
            Err(e) => {
                return Err(Error::new(
                    e.kind(),
                    format!("the operator token file cannot be used: {e}"),
                ));
            }
        }
    }
    parse("", path).map(Some)
}

/// A new file at `path`, owner-only (0600) from its creation; an existing file or link
/// there is an error (`AlreadyExists`).
fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Reads the operator token, creating it (0600) if it does not exist yet.
pub fn load_or_create(data_dir: &Path) -> std::io::Result<String> {
    let path = token_path(data_dir);
    if let Some(token) = read(&path)? {
        return Ok(token);
    }
    crate::datadir::secure_dir(data_dir)?;
    let token = fresh()?;
    match create_owner_only(&path) {
        Ok(mut f) => {
            f.write_all(token.as_bytes())?;
            f.sync_all()?;
            Ok(token)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            read(&path)?.ok_or_else(|| Error::new(ErrorKind::NotFound, "the token file vanished"))
        }
        Err(e) => Err(e),
    }
}

/// A new operator token: `maas_op_` and a body with check digits like an agent's, so
/// the token is recognised without its prefix too.
fn fresh() -> std::io::Result<String> {
    let mut bytes = [0u8; maas_core::token::RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| Error::other(e.to_string()))?;
    Ok(format!("maas_op_{}", maas_core::token::body(&bytes)))
}

/// Replaces the operator token with a new one and returns it: written to a new file
/// beside it (created fresh, 0600, never through a link) and renamed over it, so a reader
/// sees the old token or the new one, never a part. A `maas serve` running on the data
/// directory takes it within seconds. Refused when the token file belongs to another
/// user: the server running as that user could not read the new one and would keep the
/// old token.
pub fn rotate(data_dir: &Path) -> std::io::Result<String> {
    crate::datadir::secure_dir(data_dir)?;
    let token = fresh()?;
    let path = token_path(data_dir);
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| Error::other(e.to_string()))?;
    let next = data_dir.join(format!(
        "operator-token.{}.new",
        maas_core::audit::hex(&suffix)
    ));
    // A fresh name, created exclusively: an existing file or link there is an error.
    let mut f = create_owner_only(&next)?;
    let written = (|| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let Ok(old) = std::fs::metadata(&path)
                && old.uid() != f.metadata()?.uid()
            {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "{} belongs to another user (uid {}); rotate it as that user, the one \
                         `maas serve` runs as",
                        path.display(),
                        old.uid()
                    ),
                ));
            }
        }
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&next, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&next);
        return Err(e);
    }
    if let Ok(dir) = std::fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok(token)
}

/// The token the file holds now, for a server that follows changes to it: `None` when
/// there is none; an error when it is malformed (the server keeps the token it has).
/// The file is made owner-only, as at start.
pub fn current(data_dir: &Path) -> std::io::Result<Option<String>> {
    // Read once: the follower reads again soon.
    read_tries(&token_path(data_dir), 1)
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_must_hold_a_token() {
        let p = Path::new("/data/operator-token");
        assert_eq!(
            parse("maas_op_0123456789abcdef\n", p).ok().as_deref(),
            Some("maas_op_0123456789abcdef")
        );
        for bad in [
            "",
            "  \n",
            "short",
            "has a space inside it",
            "tab\tinside_the_token_text",
        ] {
            let err = parse(bad, p)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("/data/operator-token"), "{bad:?}: {err}");
        }
        assert!(!same_token("", "x") && same_token("abc", "abc"));
    }
}
