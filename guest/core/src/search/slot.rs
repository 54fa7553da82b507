//! One term's documents as the index keeps them. Most terms of a large index are in
//! one document (ids, hashes, names, a mistyped word), and [`Postings`] — a bitmap,
//! three vectors and block bounds — cost about 600 bytes for one: a text of unique
//! words made the index sixty times its size. A term in one document is kept inline
//! (8 bytes); its postings are built when a query reads it, and it becomes
//! [`Postings`] when a second document has it.

use super::postings::{DocLens, Postings, TF_OVERFLOW};
use roaring::RoaringBitmap;
use std::borrow::Cow;

/// The documents of one term.
#[derive(Debug, Clone, Default)]
pub(super) enum Slot {
    /// No document (a free slot).
    #[default]
    Empty,
    /// One document and the term's frequency in it.
    One { doc: u32, tf: u32 },
    /// Two or more documents (or fewer, after removals).
    Many(Box<Postings>),
}

impl Slot {
    /// The postings of one document.
    fn single(doc: u32, tf: u32, lens: &DocLens) -> Postings {
        let small = u8::try_from(tf)
            .ok()
            .filter(|&t| t != TF_OVERFLOW)
            .unwrap_or(TF_OVERFLOW);
        let big = if small == TF_OVERFLOW {
            vec![(doc, tf)]
        } else {
            Vec::new()
        };
        Postings::from_sorted(vec![doc], vec![small], big, lens)
    }

    /// The slot for `postings`: inline when they hold one document.
    pub(super) fn of(postings: Postings) -> Slot {
        match (postings.len(), postings.docs.first()) {
            (0, _) | (_, None) => Slot::Empty,
            (1, Some(&doc)) => Slot::One {
                doc,
                tf: postings.tf_at(0),
            },
            _ => Slot::Many(Box::new(postings)),
        }
    }

    /// Adds `doc` (not yet present) with frequency `tf` in a document of `len` terms.
    pub(super) fn add(&mut self, doc: u32, tf: u32, len: u32, lens: &DocLens) {
        match self {
            Slot::Empty => *self = Slot::One { doc, tf },
            Slot::One {
                doc: first,
                tf: first_tf,
            } => {
                let mut postings = Self::single(*first, *first_tf, lens);
                postings.add(doc, tf, len, lens);
                *self = Slot::Many(Box::new(postings));
            }
            Slot::Many(postings) => postings.add(doc, tf, len, lens),
        }
    }

    /// Removes `doc`; false if it was not there.
    pub(super) fn remove(&mut self, doc: u32) -> bool {
        match self {
            Slot::One { doc: d, .. } if *d == doc => {
                *self = Slot::Empty;
                true
            }
            Slot::Many(postings) => postings.remove(doc),
            _ => false,
        }
    }

    /// Number of documents.
    pub(super) fn len(&self) -> usize {
        match self {
            Slot::Empty => 0,
            Slot::One { .. } => 1,
            Slot::Many(postings) => postings.len(),
        }
    }

    /// Whether no document has the term.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frequency of the term in `doc`, if `doc` has it.
    pub(super) fn tf_of(&self, doc: u32) -> Option<u32> {
        match self {
            Slot::One { doc: d, tf } if *d == doc => Some(*tf),
            Slot::Many(postings) => postings.tf_of(doc),
            _ => None,
        }
    }

    /// How many documents of `allowed` have the term.
    pub(super) fn df(&self, allowed: &RoaringBitmap) -> u64 {
        match self {
            Slot::Empty => 0,
            Slot::One { doc, .. } => u64::from(allowed.contains(*doc)),
            Slot::Many(postings) => postings.set.intersection_len(allowed),
        }
    }

    /// Its postings: built for the query when the term is in one document.
    pub(super) fn postings(&self, lens: &DocLens) -> Cow<'_, Postings> {
        match self {
            Slot::Empty => Cow::Owned(Postings::default()),
            Slot::One { doc, tf } => Cow::Owned(Self::single(*doc, *tf, lens)),
            Slot::Many(postings) => Cow::Borrowed(postings),
        }
    }

    /// Gives back spare capacity.
    pub(super) fn shrink_to_fit(&mut self) {
        if let Slot::Many(postings) = self {
            postings.shrink_to_fit();
        }
    }

    /// Bytes held on the heap beyond the slot itself.
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Slot::Many(postings) => postings.bytes(),
            _ => 0,
        }
    }
}
