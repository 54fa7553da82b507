//! `readable_by` answers for the agent it is given: the same id with other
//! capabilities at the same state position reads what a fresh state says it reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod visibility_support;

use maas_core::model::{Capability, Scope};
use maas_core::visibility::readable_by;
use visibility_support::{History, by_the_rules};

#[test]
fn the_same_id_without_memory_read_does_not_read_the_global_shares() {
    let mut h = History::new();
    h.register("a1", "ann", true);
    h.register("a2", "bob", true);
    h.pool("p1", "bob", None);
    h.join("p1", "a2");
    h.store("m1", "a2", None);
    h.share("p1", "m1", "a2", Scope::Global);
    let with = h.agent("a1");
    assert_eq!(readable_by(&h.s, &with, h.at).len(), 1);
    let mut without = with.clone();
    without
        .capabilities
        .retain(|c| *c != Capability::MemoryRead);
    let fresh = h.s.clone();
    assert_eq!(
        *readable_by(&fresh, &without, h.at),
        by_the_rules(&h.s, &without, h.at)
    );
    assert_eq!(
        *readable_by(&h.s, &without, h.at),
        *readable_by(&fresh, &without, h.at),
        "the reader memo answered for the agent as first given"
    );
}
