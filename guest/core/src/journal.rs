//! The journal a core runs on, as a plain trait, and an in-memory implementation.

/// Why a journal refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalError {
    /// Another writer appended first; the current head.
    Conflict(u64),
    /// Storage failed; nothing was written.
    Unavailable(String),
}

/// An ordered log of opaque entries numbered from 1, with compare-and-append.
pub trait Journal {
    /// The sequence of the last entry, 0 when empty.
    fn head(&mut self) -> Result<u64, JournalError>;
    /// Up to `max` entries with `seq >= from`, in order.
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError>;
    /// Appends `data` as entry `expected_head + 1` if the head is still `expected_head`.
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError>;
}

/// A journal held in memory (tests, demos).
#[derive(Debug, Default, Clone)]
pub struct MemoryJournal {
    /// The entries; entry `seq` is at index `seq - 1`.
    pub entries: Vec<Vec<u8>>,
}

impl Journal for MemoryJournal {
    fn head(&mut self) -> Result<u64, JournalError> {
        Ok(self.entries.len() as u64)
    }

    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let start = from.max(1);
        Ok((start..)
            .zip(self.entries.iter().skip((start - 1) as usize))
            .take(max as usize)
            .map(|(seq, data)| (seq, data.clone()))
            .collect())
    }

    fn append(
        &mut self,
        expected_head: u64,
        data: &[u8],
        _sync: bool,
    ) -> Result<u64, JournalError> {
        let head = self.entries.len() as u64;
        if head != expected_head {
            return Err(JournalError::Conflict(head));
        }
        self.entries.push(data.to_vec());
        Ok(head + 1)
    }
}

impl<J: Journal + ?Sized> Journal for &mut J {
    fn head(&mut self) -> Result<u64, JournalError> {
        (**self).head()
    }
    fn read(&mut self, from: u64, max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        (**self).read(from, max)
    }
    fn append(&mut self, expected_head: u64, data: &[u8], sync: bool) -> Result<u64, JournalError> {
        (**self).append(expected_head, data, sync)
    }
}
