//! Journal backends: where the core's history is kept. A plain Rust trait, so backends
//! know nothing of WIT types.

pub mod memory;
pub mod sqlite;

pub use memory::MemoryJournal;
pub use sqlite::SqliteJournal;

/// Why a journal refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// Another writer appended first; the current head.
    #[error("journal head moved to {0}")]
    Conflict(u64),
    /// Storage failed; nothing was written.
    #[error("journal unavailable: {0}")]
    Unavailable(String),
}

/// A snapshot of the core's state as of `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last sequence it includes.
    pub seq: u64,
    /// The encoded state.
    pub data: Vec<u8>,
}

/// An ordered log of opaque entries numbered from 1, with compare-and-append, and a
/// snapshot slot beside it.
pub trait JournalBackend: Send {
    /// The sequence of the last entry, 0 when empty.
    fn head(&mut self) -> Result<u64, JournalError>;
    /// Up to `max` entries with `seq >= from`, in order.
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError>;
    /// Appends `data` as entry `expected_head + 1` if the head is `expected_head`. When
    /// `sync` is true the entry is durable on return; otherwise it becomes durable with
    /// the next synced append at the latest.
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError>;
    /// Saves a snapshot, replacing older ones.
    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<(), JournalError>;
    /// The newest snapshot.
    fn load_snapshot(&mut self) -> Result<Option<Snapshot>, JournalError>;
}

/// Most entries one `read` returns, whatever the guest asks for.
pub const MAX_READ_BATCH: u32 = 4096;
/// Largest entry a backend accepts, in bytes.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024 * 1024;

/// Checks an entry's size before it is written.
pub fn check_entry(data: &[u8]) -> Result<(), JournalError> {
    if data.len() > MAX_ENTRY_BYTES {
        return Err(JournalError::Unavailable(format!(
            "entry of {} bytes exceeds the {MAX_ENTRY_BYTES}-byte limit",
            data.len()
        )));
    }
    Ok(())
}
