//! A cache of the compiled core, so a short command does not compile the component again
//! (about a second on two cores; loading the cached code takes milliseconds).
//!
//! The cache lives in the user's cache directory (`$XDG_CACHE_HOME/maas`, else
//! `~/.cache/maas`), one file per component and engine configuration, keyed by the
//! SHA-256 of the component and wasmtime's compatibility hash of the engine. Set
//! `MAAS_NO_COMPILE_CACHE=1` to compile every time.
//!
//! Every new build of maas adds a file (7–40 MB), so the cache is pruned when one is
//! written: a file not used for [`UNUSED_FOR`] goes, and of the rest only the
//! [`KEEP`] most recently used stay (a cache hit marks its file used).

use maas_core::audit::hex;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiled files kept at most: one per component (the core, each plugin) and engine
/// configuration in use, with room for a debug and a release build side by side.
const KEEP: usize = 16;
/// A compiled file unused for this long is removed when another one is written.
const UNUSED_FOR: Duration = Duration::from_secs(14 * 24 * 3600);

/// Where compiled code for the component of SHA-256 `digest` on `engine` is cached, if
/// there is a cache directory.
fn cache_file(engine: &Engine, digest: &[u8]) -> Option<PathBuf> {
    if std::env::var_os("MAAS_NO_COMPILE_CACHE").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let dir = dirs::cache_dir()?.join("maas");
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let key = hex(digest.get(..16).unwrap_or(digest));
    Some(dir.join(format!("core-{key}-{:016x}.cwasm", engine_hash.finish())))
}

/// Most bytes of a component file read (a plugin, a core named by the user): the core
/// is about 10 MB.
pub const MOST_COMPONENT_BYTES: u64 = 256 << 20;

/// Loads the compiled component at `path` (see [`load_bytes`]), read as a file the user
/// named (`owned::read_input`).
pub fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    load_bytes(
        engine,
        &crate::owned::read_input(path, MOST_COMPONENT_BYTES)?,
    )
}

/// Loads the compiled form of component `wasm` from the cache, or compiles it and fills
/// the cache. A cache that cannot be read or written is skipped, never fatal.
pub fn load_bytes(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
    load_digested(engine, wasm, &Sha256::digest(wasm))
}

/// [`load_bytes`] for a caller that already has the component's SHA-256 `digest`.
pub fn load_digested(engine: &Engine, wasm: &[u8], digest: &[u8]) -> wasmtime::Result<Component> {
    let Some(file) = cache_file(engine, digest) else {
        return Component::new(engine, wasm);
    };
    if let Some(bytes) = read_trusted(&file)
        && let Ok(component) = deserialize(engine, &bytes)
    {
        mark_used(&file);
        return Ok(component);
    }
    let component = Component::new(engine, wasm)?;
    if let Ok(bytes) = component.serialize() {
        store(&file, &bytes);
        if let Some(dir) = file.parent() {
            prune(dir, SystemTime::now());
        }
    }
    Ok(component)
}

/// Records that `file` was used (its modification time), for [`prune`].
fn mark_used(file: &Path) {
    if let Ok(f) = std::fs::OpenOptions::new().append(true).open(file) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Removes from cache directory `dir` the compiled files unused for [`UNUSED_FOR`]
/// and all but the [`KEEP`] most recently used, and temporary files left by a write
/// that did not finish (older than an hour). Failures are ignored: another process
/// may be pruning too.
fn prune(dir: &Path, now: SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let age = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    };
    let mut compiled = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if name.starts_with("core-") && name.ends_with(".cwasm") {
            compiled.push((age(&meta), entry.path()));
        } else if name.starts_with(".tmp-") && age(&meta) > Duration::from_secs(3600) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    compiled.sort();
    for (i, (age, path)) in compiled.iter().enumerate() {
        if i >= KEEP || *age > UNUSED_FOR {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether metadata is of something the user running maas owns and no one else may
/// write.
#[cfg(unix)]
#[allow(unsafe_code)]
fn private(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    m.uid() == me && m.mode() & 0o022 == 0
}

/// Whether `dir` is a directory (not a link) that is [`private`].
#[cfg(unix)]
fn private_dir(dir: &Path) -> bool {
    matches!(std::fs::symlink_metadata(dir), Ok(m) if m.is_dir() && private(&m))
}

#[cfg(not(unix))]
fn private_dir(_dir: &Path) -> bool {
    false
}

/// The compiled code at `file`, if it may be loaded: the directory and the file are
/// what they say (no links), owned by the user running maas and writable by no one
/// else. Anyone who could write there could otherwise have their own native code run by
/// maas. Both are checked on the descriptors read from, the file opened inside the
/// directory checked, so a directory swapped for another after the check is not read.
/// Elsewhere than Linux nothing is loaded (the component is compiled each time).
#[cfg(target_os = "linux")]
fn read_trusted(file: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(file.parent()?)
        .ok()?;
    if !dir.metadata().is_ok_and(|m| m.is_dir() && private(&m)) {
        return None;
    }
    let inside = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(file.file_name()?);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(inside)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !(meta.is_file() && private(&meta)) {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(not(target_os = "linux"))]
fn read_trusted(_file: &Path) -> Option<Vec<u8>> {
    None
}

/// Reads compiled code written by [`store`].
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime trusts compiled code it deserializes. The bytes are a file this
    // program wrote with `Component::serialize` into the user's own cache directory
    // (created 0700, file 0600; [`read_trusted`] checked both are the user's and
    // writable by no one else), under a name that binds it to the exact component bytes
    // and engine configuration; wasmtime also checks the version and engine settings
    // recorded in it and refuses a mismatch. Anyone able to replace it could already
    // replace the `maas` binary or the data directory of the same user.
    unsafe { Component::deserialize(engine, bytes) }
}

/// Writes compiled code atomically (a temporary file renamed into place), owner-only.
fn store(file: &Path, bytes: &[u8]) {
    let Some(dir) = file.parent() else {
        return;
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    if builder.create(dir).is_err() || !private_dir(dir) {
        return;
    }
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        use std::io::Write;
        f.write_all(bytes)?;
        f.sync_all()
    });
    if written.is_err() || std::fs::rename(&tmp, file).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_most_recently_used_files() {
        let dir = std::env::temp_dir().join(format!("maas-compiled-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let now = SystemTime::now();
        let day = Duration::from_secs(24 * 3600);
        // KEEP + 4 compiled files used 0, 0.5, 1, … days ago, one unused for 20 days, a
        // stale and a fresh temporary file, and a file that is not the cache's.
        let half_day = Duration::from_secs(12 * 3600);
        let mut files = Vec::new();
        for d in (0..KEEP as u32 + 4).chain([40]) {
            files.push((format!("core-{d:02}-0123456789abcdef.cwasm"), d));
        }
        files.push((".tmp-1-ThreadId(1)".to_string(), 1));
        files.push((".tmp-2-ThreadId(1)".to_string(), 0));
        files.push(("notes.txt".to_string(), 30));
        for (name, days) in &files {
            let path = dir.join(name);
            let f = std::fs::File::create(&path).expect("create");
            f.set_modified(now - half_day * *days).expect("set mtime");
        }
        prune(&dir, now);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("read dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expect: Vec<String> = (0..KEEP)
            .map(|d| format!("core-{d:02}-0123456789abcdef.cwasm"))
            .collect();
        expect.push(".tmp-2-ThreadId(1)".into());
        expect.push("notes.txt".into());
        expect.sort();
        assert_eq!(left, expect);
        // A used file is marked, so it outlives older ones.
        let oldest = dir.join(format!("core-{:02}-0123456789abcdef.cwasm", KEEP - 1));
        mark_used(&oldest);
        let modified = std::fs::metadata(&oldest)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert!(now.duration_since(modified).unwrap_or_default() < day);
        // Among fewer than KEEP files, one unused for longer than UNUSED_FOR still goes.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (name, age) in [("core-new-0.cwasm", day), ("core-old-0.cwasm", day * 15)] {
            let f = std::fs::File::create(dir.join(name)).expect("create");
            f.set_modified(now - age).expect("set mtime");
        }
        prune(&dir, now);
        assert!(dir.join("core-new-0.cwasm").is_file());
        assert!(!dir.join("core-old-0.cwasm").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_cache_key_changes_with_the_component() {
        let engine = Engine::default();
        let key = |wasm: &[u8]| cache_file(&engine, &Sha256::digest(wasm));
        let a = key(b"one");
        let b = key(b"two");
        if a.is_some() {
            assert_ne!(a, b);
            assert_eq!(a, key(b"one"));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_the_user_s_own_private_files_are_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("maas-compiled-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = dir.join("maas");
        std::fs::create_dir_all(&cache).expect("temp dir");
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
        };
        mode(&cache, 0o700);
        assert!(private_dir(&cache));
        let file = cache.join("core-a.cwasm");
        std::fs::write(&file, b"code").expect("write");
        mode(&file, 0o600);
        assert_eq!(read_trusted(&file).as_deref(), Some(&b"code"[..]));
        // A directory or file others may write, or a link, is not.
        mode(&cache, 0o777);
        assert!(read_trusted(&file).is_none());
        assert!(!private_dir(&cache));
        mode(&cache, 0o755);
        assert!(read_trusted(&file).is_some());
        mode(&file, 0o666);
        assert!(read_trusted(&file).is_none());
        mode(&file, 0o600);
        let link = cache.join("core-b.cwasm");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(read_trusted(&link).is_none());
        let linked_dir = dir.join("linked");
        std::os::unix::fs::symlink(&cache, &linked_dir).expect("symlink");
        assert!(read_trusted(&linked_dir.join("core-a.cwasm")).is_none());
        assert!(!private_dir(&linked_dir));
        // What `store` writes into a directory it makes is trusted.
        let fresh = dir.join("fresh").join("maas").join("core-c.cwasm");
        store(&fresh, b"compiled");
        assert_eq!(read_trusted(&fresh).as_deref(), Some(&b"compiled"[..]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
