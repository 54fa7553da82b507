//! What an ingest stored, per repository: each document's key, content hash and file,
//! kept in the data directory beside the journal (`ingest/<hash of the root>.json`), so a
//! second run sends only new and changed documents and removes those whose source is
//! gone. The manifest is written after every stored batch, so an interrupted run resumes
//! where it stopped.

use super::{Doc, Plan};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One stored document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Hex SHA-256 of its fields.
    pub hash: String,
    /// The file it came from.
    pub file: String,
}

/// What was stored from one repository.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// The repository root, as given canonicalized.
    pub root: String,
    /// Stored documents by `kind/id`.
    pub docs: BTreeMap<String, Entry>,
    /// Documents the core refused (the write gate), by `kind/id`, with their hash: not
    /// sent again until they change.
    #[serde(default)]
    pub refused: BTreeMap<String, String>,
    /// The owner whose run stored them ([`OPERATOR`] for the operator's); absent in a
    /// manifest written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The owner a manifest names for the operator's runs.
pub const OPERATOR: &str = "operator";

/// The manifest file of `root` in the data directory `dir`.
pub fn location(dir: &Path, root: &Path) -> PathBuf {
    let h = Sha256::digest(root.to_string_lossy().as_bytes());
    let name: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
    dir.join("ingest").join(format!("{name}.json"))
}

/// The largest manifest read: far above what `--max-documents` documents make.
const MAX_MANIFEST_BYTES: u64 = 1 << 30;

impl Manifest {
    /// Reads the manifest at `file` (the user's own, never through a link: see
    /// [`crate::owned`]); an absent one is empty.
    pub fn load(file: &Path, root: &Path) -> Result<Manifest, String> {
        match crate::owned::read_text(file, MAX_MANIFEST_BYTES) {
            Ok(Some(text)) => Manifest::parse(&text, file),
            Ok(None) => Ok(Manifest {
                root: root.to_string_lossy().into_owned(),
                docs: BTreeMap::new(),
                refused: BTreeMap::new(),
                owner: None,
            }),
            Err(e) => Err(format!("cannot read {}: {e}", file.display())),
        }
    }

    /// The manifest in `text`, read from `file`.
    fn parse(text: &str, file: &Path) -> Result<Manifest, String> {
        serde_json::from_str(text)
            .map_err(|e| format!("the ingest manifest {} does not parse: {e}", file.display()))
    }

    /// Writes the manifest to `file` (through a temporary file and a rename), in a
    /// directory of maas's own (see [`crate::owned`]).
    pub fn save(&self, file: &Path) -> Result<(), String> {
        if let Some(parent) = file.parent() {
            crate::owned::dir(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        // Two runs at once each write their own, and the last rename wins whole.
        let tmp = file.with_extension(format!("json.{}.tmp", std::process::id()));
        let text = serde_json::to_string(self).map_err(|e| e.to_string())?;
        crate::owned::create_new(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write {}: {e}", file.display())
            })
    }

    /// Records a stored document.
    pub fn stored(&mut self, d: &Doc) {
        self.refused.remove(&d.key());
        self.docs.insert(
            d.key(),
            Entry {
                hash: d.hash.clone(),
                file: d.file.clone(),
            },
        );
    }
}

/// Whether this process holds the ingest lock of a data directory (see [`lock`]).
static HOLDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The ingest lock of a data directory, held while a `kb ingest-repo` runs: runs on one
/// data directory one at a time (two at once could each find the other's ids free, and
/// write their manifests over each other's).
#[derive(Debug)]
pub struct Lock {
    _file: std::fs::File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        HOLDING.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Takes the ingest lock of the data directory `dir`, waiting for a run that holds it
/// (`waiting` is called first, when one does).
pub fn lock(dir: &Path, waiting: impl FnOnce()) -> Result<Lock, String> {
    let folder = dir.join("ingest");
    crate::owned::dir(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let path = folder.join(".lock");
    let file = crate::owned::open_write(&path, true)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if file.try_lock().is_err() {
        waiting();
        file.lock()
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    }
    HOLDING.store(true, std::sync::atomic::Ordering::Release);
    Ok(Lock { _file: file })
}

/// Forgets the documents `kind/id` removed from the knowledge base in every manifest
/// of the data directory `dir`, so the next `kb ingest-repo` sends them again rather
/// than counting them unchanged. Returns, for each file that could not be read or
/// written, what went wrong (the others are still updated).
pub fn forget(dir: &Path, kind: &str, ids: &[String]) -> Vec<String> {
    let folder = dir.join("ingest");
    let mut problems = Vec::new();
    // A run under way would write its manifest over this change: it is named instead
    // (a run of this process, removing what its repository lost, updates its own).
    let _held = match HOLDING.load(std::sync::atomic::Ordering::Acquire) {
        true => None,
        false => match crate::owned::open_read(&folder.join(".lock")) {
            Ok(Some(file)) => match file.try_lock() {
                Ok(()) => Some(file),
                Err(_) => {
                    return vec![format!(
                        "a kb ingest-repo run is under way on {}",
                        dir.display()
                    )];
                }
            },
            Ok(None) | Err(_) => None,
        },
    };
    let keys: Vec<String> = ids
        .iter()
        .map(|id| serde_json::Value::String(format!("{kind}/{id}")).to_string())
        .collect();
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return problems,
        Err(e) => return vec![format!("cannot read {}: {e}", folder.display())],
    };
    for entry in entries {
        let file = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                problems.push(format!("cannot read {}: {e}", folder.display()));
                continue;
            }
        };
        if file.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = match crate::owned::read_text(&file, MAX_MANIFEST_BYTES) {
            Ok(Some(text)) => text,
            // Removed meanwhile by a run's save (renamed over).
            Ok(None) => continue,
            Err(e) => {
                problems.push(format!("cannot read {}: {e}", file.display()));
                continue;
            }
        };
        // Most removals name nothing a manifest holds: a search of the text for each key
        // as JSON writes it spares the parse (this runs on the core's thread).
        if !keys.iter().any(|k| text.contains(k.as_str())) {
            continue;
        }
        let mut m = match Manifest::parse(&text, &file) {
            Ok(m) => m,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let before = m.docs.len() + m.refused.len();
        for id in ids {
            let key = format!("{kind}/{id}");
            m.docs.remove(&key);
            m.refused.remove(&key);
        }
        if m.docs.len() + m.refused.len() != before
            && let Err(e) = m.save(&file)
        {
            problems.push(e);
        }
    }
    problems
}

/// Another repository's manifest in the data directory `dir` (any but `own`) that
/// records documents of `keys` a run by `owner` would replace: its repository, its file
/// and how many it records. Runs of two repositories without `--prefix` make the same
/// ids of the same paths, and the second would silently replace the first one's
/// documents where it may: the operator's run replaces any, an agent's those of its
/// own owner (another owner's document is refused, and named, document by document).
/// A manifest that names no owner counts as any owner's; one that cannot be read is
/// passed over here.
pub fn held_elsewhere<'a>(
    dir: &Path,
    own: &Path,
    owner: &str,
    keys: impl Iterator<Item = &'a String> + Clone,
) -> Option<(String, PathBuf, usize)> {
    let entries = std::fs::read_dir(dir.join("ingest")).ok()?;
    for file in entries.flatten().map(|e| e.path()) {
        if file == own || file.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Ok(m) = Manifest::load(&file, Path::new("")) else {
            continue;
        };
        let replaced = owner == OPERATOR || m.owner.as_deref().is_none_or(|o| o == owner);
        if !replaced {
            continue;
        }
        let held = keys.clone().filter(|k| m.docs.contains_key(*k)).count();
        if held > 0 {
            return Some((m.root, file, held));
        }
    }
    None
}

/// What a run changes.
#[derive(Debug, Default)]
pub struct Diff<'a> {
    /// Documents not stored before.
    pub added: Vec<&'a Doc>,
    /// Documents stored before with another hash.
    pub changed: Vec<&'a Doc>,
    /// Keys (`kind/id`) stored before and no longer produced.
    pub removed: Vec<String>,
    /// Documents stored before with the same hash.
    pub unchanged: u64,
    /// Documents refused before with the same hash (not sent again).
    pub still_refused: u64,
}

/// Compares a plan with what was stored; `full` counts every document stored before as
/// changed (sent again), and sends refused documents again.
pub fn diff<'a>(plan: &'a Plan, before: &Manifest, full: bool) -> Diff<'a> {
    let mut out = Diff::default();
    for (k, d) in &plan.docs {
        if !full && before.refused.get(k) == Some(&d.hash) {
            out.still_refused += 1;
            continue;
        }
        match before.docs.get(k) {
            None => out.added.push(d),
            Some(e) if full || e.hash != d.hash => out.changed.push(d),
            Some(_) => out.unchanged += 1,
        }
    }
    // Gone: stored before, not made now, and not from a file this run could not read.
    out.removed = before
        .docs
        .iter()
        .filter(|(k, e)| !plan.docs.contains_key(*k) && !plan.keeps(&e.file))
        .map(|(k, _)| k.clone())
        .collect();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ingest::Plan;

    #[test]
    fn a_removal_during_a_run_is_named_not_lost() {
        let dir = std::env::temp_dir().join(format!("maas-manifest-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut m = Manifest::default();
        m.docs.insert(
            "code/a".into(),
            Entry {
                hash: "h".into(),
                file: "a.rs".into(),
            },
        );
        std::fs::create_dir_all(dir.join("ingest")).unwrap();
        m.save(&dir.join("ingest/r.json")).unwrap();
        // Another process's run holds the lock (a second descriptor stands for it).
        let other = {
            let lock = lock(&dir, || {}).unwrap();
            drop(lock);
            let f = std::fs::File::open(dir.join("ingest/.lock")).unwrap();
            f.lock().unwrap();
            f
        };
        let problems = forget(&dir, "code", &["a".into()]);
        assert!(
            problems.iter().any(|p| p.contains("under way")),
            "{problems:?}"
        );
        drop(other);
        // This process's own run, and no run at all, update the manifest.
        let held = lock(&dir, || {}).unwrap();
        assert!(forget(&dir, "code", &["a".into()]).is_empty());
        drop(held);
        let m = Manifest::load(&dir.join("ingest/r.json"), Path::new("")).unwrap();
        assert!(m.docs.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn documents_of_what_could_not_be_read_are_not_removed() {
        let entry = |file: &str| Entry {
            hash: "h".into(),
            file: file.into(),
        };
        let mut before = Manifest::default();
        for (key, file) in [
            ("code/a", "web/src/cart.ts"),
            ("code/b", "web2/x.ts"),
            ("code/c", "billing/src/lib.rs"),
            ("code/d", "notes/x.py"),
        ] {
            before.docs.insert(key.into(), entry(file));
        }
        // `web` could not be listed and `notes/x.py` not read: theirs stay; `web2` is
        // another directory, and `billing` is gone.
        let plan = Plan {
            unread: vec!["web".into(), "notes/x.py".into()],
            ..Plan::default()
        };
        let d = diff(&plan, &before, false);
        assert_eq!(d.removed, ["code/b", "code/c"]);
    }
}
