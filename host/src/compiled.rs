//! A cache of the compiled core, so a short command does not compile the component again
//! (about a second on two cores; loading the cached code takes milliseconds).
//!
//! The cache lives in the user's cache directory (`$XDG_CACHE_HOME/maas`, else
//! `~/.cache/maas`), one file per component and engine configuration, keyed by the
//! SHA-256 of the component and wasmtime's compatibility hash of the engine. Set
//! `MAAS_NO_COMPILE_CACHE=1` to compile every time.

use maas_core::audit::hex;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

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

/// Loads the compiled component at `path` (see [`load_bytes`]).
pub fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    load_bytes(engine, &std::fs::read(path)?)
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
    if file.is_file()
        && let Ok(component) = deserialize(engine, &file)
    {
        return Ok(component);
    }
    let component = Component::new(engine, wasm)?;
    if let Ok(bytes) = component.serialize() {
        store(&file, &bytes);
    }
    Ok(component)
}

/// Reads compiled code written by [`store`].
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, file: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime trusts compiled code it deserializes. The file is one this
    // program wrote with `Component::serialize` into the user's own cache directory
    // (created 0700, file 0600), under a name that binds it to the exact component
    // bytes and engine configuration; wasmtime also checks the version and engine
    // settings recorded in it and refuses a mismatch. Anyone able to replace it could
    // already replace the `maas` binary or the data directory of the same user.
    unsafe { Component::deserialize_file(engine, file) }
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
    if builder.create(dir).is_err() {
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
mod tests {
    use super::*;

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
}
