//! State images: a copy of the core instance's linear memory in a file beside the journal
//! (`state.image` in the data directory), so a large state starts by copying pages
//! instead of decoding a snapshot and rebuilding the search indexes.
//!
//! An image is a cache, never the record: the journal and its snapshots stay the truth.
//! It is used only when all of these hold, else the start falls back to the snapshot:
//! - it was taken from this very component (the SHA-256 of the component's bytes);
//! - the journal still holds, at the image's position, the entry it was taken after
//!   (SHA-256 of that entry), so an image of another journal, or of a history since
//!   replaced, is refused;
//! - it is not behind the newest snapshot by more than a snapshot interval (as it is at
//!   that snapshot: a tenth of the journal's length when that is more);
//! - its pages match the CRC-32 taken when it was written.
//!
//! The journal tail after the image's position is then applied by `init`, as after a
//! snapshot. A trap restarts from the snapshot, not the image.
//!
//! The file: `MAASIMG1`, the stored pages one after another (64 KiB each; pages of zeros
//! are left out), then the header as JSON, its length (u32, little endian) and
//! `MAASIMG1` again. The header is written last because the pages it lists are known
//! only once they were read; it is written to a temporary file, synced and renamed.

use super::{HostState, Runtime, journal_failure, trap};
use crate::bindings::{Maas, types};
use crate::progress::Progress;
use maas_core::audit::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use wasmtime::Store;

/// The file name in a data directory.
pub const IMAGE_FILE: &str = "state.image";

const MAGIC: &[u8; 8] = b"MAASIMG1";

/// A wasm page: what the image stores or leaves out.
const PAGE: usize = 65_536;

/// Bytes moved per call (the component's own bound).
const CHUNK: usize = 4 << 20;

/// What an image holds, written after its pages.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    /// SHA-256 (hex) of the component the memory belongs to.
    component: String,
    /// The journal position of the state.
    seq: u64,
    /// SHA-256 (hex) of the journal entry at `seq`.
    entry: String,
    /// Bytes of linear memory.
    memory_bytes: u64,
    /// Stored pages as runs of (first page, pages), in order.
    runs: Vec<(u64, u64)>,
    /// CRC-32 of the stored pages.
    crc32: u32,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> types::Error {
    types::Error::Unavailable(format!("{what}: {e}"))
}

/// SHA-256 (hex) of the journal entry at `seq`, if the journal holds it.
fn entry_digest(store: &mut Store<HostState>, seq: u64) -> Result<Option<String>, types::Error> {
    let entries = store
        .data_mut()
        .journal
        .read(seq, 1)
        .map_err(journal_failure)?;
    Ok(entries
        .into_iter()
        .find(|(s, _)| *s == seq)
        .map(|(_, data)| hex(&Sha256::digest(&data))))
}

/// Reads the header of the image at `path`; `None` when there is none.
fn read_header(path: &Path) -> Result<Option<(File, Header)>, String> {
    // The user's own regular file, never through a link (a FIFO would hang the start).
    let mut file = match crate::owned::open_read(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut tail = [0u8; 12];
    if len < 20 {
        return Err("it is cut short".into());
    }
    file.seek(SeekFrom::End(-12)).map_err(|e| e.to_string())?;
    file.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let (size, magic) = tail.split_at(4);
    let mut head_magic = [0u8; 8];
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    file.read_exact(&mut head_magic)
        .map_err(|e| e.to_string())?;
    if magic != MAGIC || &head_magic != MAGIC {
        return Err("it is not a maas state image".into());
    }
    let size = u64::from(u32::from_le_bytes(
        size.try_into().map_err(|_| "bad header length")?,
    ));
    if size + 20 > len {
        return Err("its header is cut short".into());
    }
    file.seek(SeekFrom::Start(len - 12 - size))
        .map_err(|e| e.to_string())?;
    let mut json = vec![0u8; size as usize];
    file.read_exact(&mut json).map_err(|e| e.to_string())?;
    let header: Header = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
    let pages: u64 = header.runs.iter().map(|r| r.1).sum();
    if 8 + pages * PAGE as u64 + size + 12 != len {
        return Err("its size does not match its header".into());
    }
    Ok(Some((file, header)))
}

impl Runtime {
    /// Saves an image of the core's memory to `path` (settling the state first: every
    /// index left for later is built, so the image starts ready). Returns its position
    /// and size in bytes.
    pub fn save_image(&mut self, path: &Path) -> Result<(u64, u64), types::Error> {
        let info = self.invoke(|core, store| core.maas_core_admin().call_image_begin(store))??;
        let entry = entry_digest(&mut self.store, info.seq)?
            .ok_or_else(|| unavailable("no state image", "the journal lacks its entry"))?;
        // A name of this process's own: two processes on one data directory may save
        // at once, and the last rename wins whole.
        let tmp = crate::temporaries::temporary(path, std::process::id());
        crate::temporaries::remove_abandoned(path);
        let written = self.write_image(&tmp, &info, entry);
        let result = written.and_then(|bytes| {
            std::fs::rename(&tmp, path)
                .map_err(|e| unavailable("could not save the state image", e))?;
            if let Some(dir) = path.parent().and_then(|d| File::open(d).ok()) {
                let _ = dir.sync_all();
            }
            Ok(bytes)
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        let bytes = result?;
        self.image_seq = Some(info.seq);
        Ok((info.seq, bytes))
    }

    fn write_image(
        &mut self,
        tmp: &Path,
        info: &crate::bindings::admin::ImageInfo,
        entry: String,
    ) -> Result<u64, types::Error> {
        let failed = |e: std::io::Error| unavailable("could not write the state image", e);
        // Created afresh: whatever held the name (a link, say) is replaced, not written.
        let file = crate::owned::create_new(tmp).map_err(failed)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(failed)?;
        let progress = Progress::bytes(
            self.options.progress && info.memory_bytes > 256 << 20,
            "saving the state image",
            info.memory_bytes,
        );
        let mut crc = crc32fast::Hasher::new();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut offset = 0u64;
        while offset < info.memory_bytes {
            let len = (info.memory_bytes - offset).min(CHUNK as u64) as u32;
            let chunk = self.invoke(|core, store| {
                core.maas_core_admin().call_image_read(store, offset, len)
            })??;
            for (i, page) in chunk.chunks(PAGE).enumerate() {
                if page.iter().all(|b| *b == 0) {
                    continue;
                }
                let n = offset / PAGE as u64 + i as u64;
                match runs.last_mut() {
                    Some((first, count)) if *first + *count == n => *count += 1,
                    _ => runs.push((n, 1)),
                }
                crc.update(page);
                out.write_all(page).map_err(failed)?;
            }
            offset += u64::from(len);
            progress.set(offset);
        }
        progress.done();
        let header = Header {
            component: hex(&self.image.digest),
            seq: info.seq,
            entry,
            memory_bytes: info.memory_bytes,
            runs,
            crc32: crc.finalize(),
        };
        let json = serde_json::to_vec(&header).map_err(|e| unavailable("state image", e))?;
        out.write_all(&json).map_err(failed)?;
        out.write_all(&(json.len() as u32).to_le_bytes())
            .map_err(failed)?;
        out.write_all(MAGIC).map_err(failed)?;
        let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
        file.sync_all().map_err(failed)?;
        Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
    }

    /// Loads the image at `path` into the fresh instance `core` when it is usable;
    /// returns its position, or `None` (with a notice saying why, unless there is no
    /// image) when the start must go on without it. An `Err` means the instance may be
    /// half loaded and must be discarded.
    pub(super) fn load_image(
        core: &Maas,
        store: &mut Store<HostState>,
        path: &Path,
        digest: &[u8],
        newest_usable: u64,
        head: u64,
        notices: &mut Vec<String>,
    ) -> Result<Option<u64>, types::Error> {
        let unused = |notices: &mut Vec<String>, why: String| {
            notices.push(format!(
                "the state image {} is not used: {why}; starting from the snapshot",
                path.display()
            ));
            Ok(None)
        };
        let (file, header) = match read_header(path) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(e) => return unused(notices, e),
        };
        if header.component != hex(digest) {
            // An image of another build: expected after an upgrade, not worth a notice.
            return Ok(None);
        }
        if header.seq > head {
            return unused(notices, format!("it is ahead of the journal ({head})"));
        }
        if header.seq < newest_usable {
            return Ok(None);
        }
        if entry_digest(store, header.seq)?.as_deref() != Some(header.entry.as_str()) {
            return unused(
                notices,
                format!(
                    "the journal's entry {} is not the one it was taken after",
                    header.seq
                ),
            );
        }
        let admin = core.maas_core_admin();
        let had = admin
            .call_image_load_begin(&mut *store, header.memory_bytes)
            .map_err(trap)?
            .map_err(|e| unavailable("the state image could not be loaded", e.reason()))?;
        let crc = Self::feed_image(core, store, file, &header, had)?;
        if crc != header.crc32 {
            return Err(unavailable(
                "the state image is damaged",
                "its pages do not match their checksum",
            ));
        }
        admin
            .call_image_load_finish(&mut *store)
            .map_err(trap)?
            .map_err(|e| unavailable("the state image could not be loaded", e.reason()))?;
        Ok(Some(header.seq))
    }

    /// Hands the stored pages to the core straight from a mapping of the file, while a
    /// thread of its own checksums them; pages below `had` that the image leaves out are
    /// written as zeros. Returns the CRC-32 of the stored pages.
    fn feed_image(
        core: &Maas,
        store: &mut Store<HostState>,
        file: File,
        header: &Header,
        had: u64,
    ) -> Result<u32, types::Error> {
        let admin = core.maas_core_admin();
        let refused = |e: types::Error| unavailable("the state image", e.reason());
        let stored: u64 = header.runs.iter().map(|r| r.1).sum();
        let end = usize::try_from(8 + stored * PAGE as u64)
            .map_err(|_| unavailable("the state image", "too large for this machine"))?;
        let map = map_file(&file)?;
        let pages = map
            .get(8..end)
            .ok_or_else(|| unavailable("the state image", "it is cut short"))?;
        std::thread::scope(|scope| {
            let checksum = scope.spawn(|| {
                let mut crc = crc32fast::Hasher::new();
                crc.update(pages);
                crc.finalize()
            });
            let zeros = vec![0u8; CHUNK];
            let load = |store: &mut Store<HostState>, offset: u64, data: &[u8]| {
                admin
                    .call_image_load_place(&mut *store, offset, data.len() as u32)
                    .map_err(trap)?
                    .map_err(refused)?;
                admin
                    .call_image_load(&mut *store, offset, data)
                    .map_err(trap)?
                    .map_err(refused)
            };
            let zero_fill = |store: &mut Store<HostState>, from: u64, to: u64| {
                let mut at = from;
                while at < to {
                    let n = (to - at).min(CHUNK as u64) as usize;
                    load(&mut *store, at, zeros.get(..n).unwrap_or_default())?;
                    at += n as u64;
                }
                Ok::<_, types::Error>(())
            };
            let (mut covered, mut from) = (0u64, 0usize);
            for &(first, count) in &header.runs {
                let offset = first * PAGE as u64;
                if covered < had.min(offset) {
                    zero_fill(store, covered, had.min(offset))?;
                }
                let len = (count as usize) * PAGE;
                let run = pages
                    .get(from..from + len)
                    .ok_or_else(|| unavailable("the state image", "it is cut short"))?;
                for (i, chunk) in run.chunks(CHUNK).enumerate() {
                    load(store, offset + (i * CHUNK) as u64, chunk)?;
                }
                from += len;
                covered = offset + len as u64;
            }
            if covered < had {
                zero_fill(store, covered, had)?;
            }
            checksum
                .join()
                .map_err(|_| unavailable("reading the state image", "the checksum failed"))
        })
    }
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_file(file: &File) -> Result<memmap2::Mmap, types::Error> {
    // SAFETY: the mapping is read only, private to this process and dropped before the
    // start returns. The file is one maas wrote (0600, renamed into place whole, never
    // written again: a newer image replaces it by rename, which leaves this mapping on
    // the old file). Should someone truncate it meanwhile, the read would fault; a
    // change of its bytes is caught by the checksum, and the instance discarded.
    unsafe { memmap2::Mmap::map(file) }.map_err(|e| unavailable("could not map the state image", e))
}

/// The image path of a data directory.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(IMAGE_FILE)
}
