//! A directory under the system's temporary directory, removed when dropped.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

/// `maas-<name>-<pid>`, empty at creation.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates it afresh.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("maas-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
