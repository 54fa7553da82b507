//! The records of a snapshot, tagged by what they hold: one JSON object per line in
//! format version 2, one binary frame each in version 3 ([`super::wire`]).
//!
//! Every object of the state is its own record, and so is every member of a set-valued
//! map (a pool's members and shares, memberships, grants, …), so no record grows with the
//! number of objects: the largest is one memory, document or handoff.

use crate::state::{Agent, AuditEntry, Handoff, Member, Memory, Pool, Share, StoredDocument};
use serde::{Deserialize, Serialize};

/// The first line: what follows and the position it is as of.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    /// Format version.
    pub v: u32,
    /// The last journal sequence the snapshot includes.
    pub seq: u64,
}

/// The scalar fields of the state.
#[derive(Debug, Serialize, Deserialize)]
pub struct Counters {
    /// Next creation number.
    pub next_n: u64,
    /// Handoffs recorded as pending or accepted.
    pub live_handoffs: u64,
    /// The head of the journal's audit chain.
    #[serde(default)]
    pub audit_head: String,
}

/// The last line: how many records came before it (the header excluded), so a cut-off
/// snapshot is refused.
#[derive(Debug, Serialize, Deserialize)]
pub struct End {
    /// Records between the header and this line.
    pub records: u64,
}

/// A record as written: borrowed from the state.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Out<'a> {
    /// See [`Counters`].
    Counters(Counters),
    /// An agent by id.
    Agent(&'a str, &'a Agent),
    /// A used `kind:id`.
    UsedId(&'a str),
    /// Token hash to agent id.
    Token(&'a str, &'a str),
    /// A pool by id, its members and shares left out (they are records of their own).
    Pool(&'a str, &'a Pool),
    /// Pool id, agent id, membership.
    Member(&'a str, &'a str, &'a Member),
    /// Pool id, memory id, share.
    Share(&'a str, &'a str, &'a Share),
    /// Agent id, pool id.
    Membership(&'a str, &'a str),
    /// `owner/team`, pool id.
    Team(&'a str, &'a str),
    /// A memory by id.
    Memory(&'a str, &'a Memory),
    /// Memory id, agent id granted read access.
    Grant(&'a str, &'a str),
    /// A handoff by id.
    Handoff(&'a str, &'a Handoff),
    /// Target agent, pending handoff id.
    Pending(&'a str, &'a str),
    /// Expiry time, pending handoff id.
    Expiry(u64, &'a str),
    /// Agent, handoff id.
    ByAgent(&'a str, &'a str),
    /// A document by `kind:id`.
    Document(&'a str, &'a StoredDocument),
    /// An audit entry of the in-memory window.
    Audit(&'a AuditEntry),
    /// See [`End`].
    End(End),
}

/// A record as read.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum In {
    /// See [`Out::Counters`].
    Counters(Counters),
    /// See [`Out::Agent`].
    Agent(String, Agent),
    /// See [`Out::UsedId`].
    UsedId(String),
    /// See [`Out::Token`].
    Token(String, String),
    /// See [`Out::Pool`].
    Pool(String, Pool),
    /// See [`Out::Member`].
    Member(String, String, Member),
    /// See [`Out::Share`].
    Share(String, String, Share),
    /// See [`Out::Membership`].
    Membership(String, String),
    /// See [`Out::Team`].
    Team(String, String),
    /// See [`Out::Memory`].
    Memory(String, Memory),
    /// See [`Out::Grant`].
    Grant(String, String),
    /// See [`Out::Handoff`].
    Handoff(String, Handoff),
    /// See [`Out::Pending`].
    Pending(String, String),
    /// See [`Out::Expiry`].
    Expiry(u64, String),
    /// See [`Out::ByAgent`].
    ByAgent(String, String),
    /// See [`Out::Document`].
    Document(String, StoredDocument),
    /// See [`Out::Audit`].
    Audit(AuditEntry),
    /// See [`Out::End`].
    End(End),
}
