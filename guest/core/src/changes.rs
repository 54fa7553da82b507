//! The change feed: what changed since a position in the journal, as the caller may see it.
//!
//! A pure query over the journal's entries: it adds no event, and its read is audited
//! like every other. Each change names its kind, the object it is about, the time and
//! the actor of its entry and a one-line summary; the object itself is read by its id.
//! Who may see a change is decided when the feed is read, against the caller's rights
//! then: a memory unshared before the read is not shown as shared, a handoff is shown to
//! its two parties only, a pool's changes to its current members.
//!
//! Positions are cursors `c<seq>` (everything up to entry `seq` seen) or `c<seq>.<i>`
//! (entry `seq` seen up to its event `i`), opaque to callers.

use crate::access::{agent_visible, memory_readable, share_visible};
use crate::engine::{Cx, Decided, Done, Refusal, record};
use crate::error::{Error, Result};
use crate::events::{Entry, Event};
use crate::limits::{check_id, check_text};
use crate::model::{Caller, Capability, DocumentKind, OPERATOR_NAME, Permission};
use crate::state::{Agent, Share, State};
use serde_json::json;

/// Most changes in one page.
pub const MAX_PAGE: u32 = 500;
/// The page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 100;
/// Most journal entries one call reads: a caller that may see little of a busy journal
/// gets an empty page with `has_more` and a cursor further on, not a long scan.
pub const MAX_SCAN: u64 = 2_048;
/// Most bytes of journal entries one call decodes (one entry whatever its size): the
/// feed describes every entry it reads, so 68 entries of 3.6 MB each (a knowledge
/// ingest apiece) cost a call 525 ms of the core whatever its filter, and a caller
/// repeating a call of 150 bytes held the core for every other owner. Past this, the
/// page ends with `has_more` and a cursor after the last entry read.
pub const MAX_SCAN_BYTES: usize = 4 * 1024 * 1024;
/// Most kinds in a filter.
pub const MAX_KINDS: usize = 16;
/// However many entries came after it, a cursor whose next entry was written less than
/// this long ago (ms) is served: one owner's flood of writes cannot expire every other
/// reader's cursor (at 2,800 entries a second, `change-window`'s million went in six
/// minutes).
pub const KEPT_FOR_MS: u64 = 24 * 60 * 60 * 1000;

/// Every kind of change the feed reports.
pub const KINDS: &[&str] = &[
    "handoff.initiated",
    "handoff.accepted",
    "handoff.input_required",
    "handoff.input_provided",
    "handoff.rejected",
    "handoff.cancelled",
    "handoff.completed",
    "handoff.expired",
    "memory.shared",
    "memory.updated",
    "memory.unshared",
    "memory.deleted",
    "pool.joined",
    "pool.left",
    "pool.archived",
    "pool.deleted",
    "knowledge.ingested",
    "knowledge.removed",
];

/// A position in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The journal entry.
    pub seq: u64,
    /// The last event of entry `seq` already seen; `None`: the whole entry.
    pub event: Option<u32>,
}

impl Cursor {
    /// After the whole entry `seq`.
    pub fn at(seq: u64) -> Self {
        Cursor { seq, event: None }
    }

    /// Parses a cursor given by a caller (`field` names it in errors).
    pub fn parse(field: &str, text: &str) -> Result<Cursor> {
        let bad = || {
            Error::invalid(
                field,
                "not a change cursor: pass back a cursor a change page returned (next_cursor, head or a change's cursor)",
            )
        };
        let rest = text.strip_prefix('c').ok_or_else(bad)?;
        let (seq, event) = match rest.split_once('.') {
            Some((seq, event)) => (seq, Some(event.parse::<u32>().map_err(|_| bad())?)),
            None => (rest, None),
        };
        if seq.is_empty() || seq.len() > 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let seq = seq.parse::<u64>().map_err(|_| bad())?;
        Ok(Cursor { seq, event })
    }

    /// True if event `index` of entry `seq` comes after this position.
    fn before(&self, seq: u64, index: u32) -> bool {
        match self.event {
            _ if seq > self.seq => true,
            Some(seen) => seq == self.seq && index > seen,
            None => false,
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.event {
            Some(e) => write!(f, "c{}.{e}", self.seq),
            None => write!(f, "c{}", self.seq),
        }
    }
}

/// Which changes a caller wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Kinds (`handoff.accepted`) or families (`handoff`); empty: every kind.
    pub kinds: Vec<String>,
    /// Only changes about this pool (shares, membership, and updates of memories shared
    /// into it).
    pub pool_id: Option<String>,
}

impl Filter {
    /// Checks the filter's bounds and names.
    pub fn check(&self) -> Result<()> {
        if self.kinds.len() > MAX_KINDS {
            return Err(Error::invalid(
                "kinds",
                format!("at most {MAX_KINDS} kinds"),
            ));
        }
        for kind in &self.kinds {
            check_text("kinds", kind, 64, true)?;
            let known = KINDS
                .iter()
                .any(|k| k == kind || k.split('.').next() == Some(kind.as_str()));
            if !known {
                return Err(Error::invalid(
                    "kinds",
                    format!(
                        "unknown kind {kind:?}: one of handoff, memory, pool, knowledge or a kind such as {}",
                        KINDS.join(", ")
                    ),
                ));
            }
        }
        if let Some(pool) = &self.pool_id {
            check_id("pool_id", pool)?;
        }
        Ok(())
    }

    fn wants(&self, kind: &str) -> bool {
        self.kinds.is_empty()
            || self
                .kinds
                .iter()
                .any(|k| k == kind || kind.split('.').next() == Some(k.as_str()))
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its position: passing it as `after` resumes after it.
    pub cursor: String,
    /// E.g. `handoff.accepted`; one of [`KINDS`].
    pub kind: &'static str,
    /// The object it is about: a handoff, memory or pool id, or `kind/id` of a document.
    pub object_id: String,
    /// The pool, for shares and membership.
    pub pool_id: Option<String>,
    /// When the change was made, ms since the epoch.
    pub at: u64,
    /// Who made it: `operator` or an agent id, when the entry says.
    pub actor: Option<String>,
    /// One line for a person.
    pub summary: String,
}

/// A page of changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Oldest first.
    pub changes: Vec<Change>,
    /// Where the next call resumes.
    pub next_cursor: String,
    /// True if the journal holds entries after `next_cursor` not yet read.
    pub has_more: bool,
    /// The journal's head now, as a cursor.
    pub head: String,
}

/// What to read: the parsed request, checked before the journal is touched.
#[derive(Debug, Clone)]
pub struct Request {
    /// Resume after this position.
    pub after: Cursor,
    /// The page size.
    pub limit: usize,
    /// Which changes.
    pub filter: Filter,
}

/// Checks a request against the journal head and the window of entries the feed serves:
/// the last `window` entries, and any after a cursor whose next entry `recent` (given its
/// position) says was written less than [`KEPT_FOR_MS`] ago.
/// `after` absent starts at the head: nothing before it is returned.
pub fn request(
    after: Option<&str>,
    limit: Option<u32>,
    filter: Filter,
    head: u64,
    window: u64,
    recent: impl FnOnce(u64) -> Result<bool>,
) -> Result<Request> {
    filter.check()?;
    let limit = match limit.unwrap_or(DEFAULT_PAGE) {
        0 => return Err(Error::invalid("limit", format!("must be 1..={MAX_PAGE}"))),
        n if n > MAX_PAGE => {
            return Err(Error::invalid("limit", format!("must be 1..={MAX_PAGE}")));
        }
        n => n as usize,
    };
    let after = match after {
        None => Cursor::at(head),
        Some(text) => Cursor::parse("after", text)?,
    };
    if after.seq > head {
        return Err(Error::invalid(
            "after",
            format!(
                "cursor {after} is ahead of the journal (head c{head}): it comes from another data dir or a journal that was replaced; start again without `after`"
            ),
        ));
    }
    if head - after.seq > window && !recent(after.seq + 1)? {
        return Err(Error::Expired(format!(
            "change cursor {after}: the feed keeps the last {window} journal entries (head c{head}) and those of the last 24 hours; resynchronise by reading the objects you follow again, then call without `after` to start from the head"
        )));
    }
    Ok(Request {
        after,
        limit,
        filter,
    })
}

/// The changes of `entries` (each `(seq, entry)`, in order) after `req.after` that the
/// reader (`None`: the operator) may see at `now`, up to the page size. `end` is the
/// last entry read, `head` the journal's head. Pure: the caller reads the entries.
pub fn page(
    s: &State,
    reader: Option<&Agent>,
    req: &Request,
    entries: &[(u64, Entry)],
    (end, head): (u64, u64),
    now: u64,
) -> Page {
    let mut changes = Vec::new();
    let mut next = Cursor::at(end.max(req.after.seq));
    'entries: for (seq, entry) in entries {
        let actor = entry.events.iter().find_map(|e| match e {
            Event::Audited(r) => Some(r.actor.clone()),
            _ => None,
        });
        for (i, event) in entry.events.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            if !req.after.before(*seq, index) {
                continue;
            }
            let Some(seen) = describe(s, reader, entry, event, now) else {
                continue;
            };
            if !req.filter.wants(seen.kind) || !in_pool(s, reader, &req.filter, &seen) {
                continue;
            }
            if changes.len() == req.limit {
                // Full: resume at the change just before this one.
                next = match changes.last() {
                    Some(Change { cursor, .. }) => Cursor::parse("after", cursor).unwrap_or(next),
                    None => next,
                };
                break 'entries;
            }
            changes.push(Change {
                cursor: Cursor {
                    seq: *seq,
                    event: Some(index),
                }
                .to_string(),
                kind: seen.kind,
                object_id: seen.object,
                pool_id: seen.pool,
                at: entry.at,
                actor: shown_actor(s, reader, seen.kind, actor.as_deref()),
                summary: seen.summary,
            });
        }
    }
    let has_more = next.seq < head || next.event.is_some();
    Page {
        changes,
        next_cursor: next.to_string(),
        has_more,
        head: Cursor::at(head).to_string(),
    }
}

/// The actor of a change as `reader` may see it: to the operator always; to an agent
/// the operator, and an agent `get_agent_info` would show it (its owner's), else
/// `None`: a change another owner's agent made (a pool's admin ending a `global`
/// share, a human unregistering its agent) names no agent the reader may not look
/// up. A handoff's expiry names none: it is recorded in whatever entry came due
/// first, another agent's unrelated call.
fn shown_actor(
    s: &State,
    reader: Option<&Agent>,
    kind: &str,
    actor: Option<&str>,
) -> Option<String> {
    let actor = actor?;
    if kind == "handoff.expired" {
        return None;
    }
    let shown = match reader {
        None => true,
        Some(r) => {
            actor == OPERATOR_NAME
                || s.agents
                    .get(actor)
                    .is_some_and(|a| agent_visible(s, &Caller::Agent(r.id.clone()), a))
        }
    };
    shown.then(|| actor.to_string())
}

/// A change as the reader may see it.
struct Seen {
    kind: &'static str,
    object: String,
    pool: Option<String>,
    summary: String,
}

fn seen(kind: &'static str, object: &str, pool: Option<&str>, summary: String) -> Option<Seen> {
    Some(Seen {
        kind,
        object: object.to_string(),
        pool: pool.map(str::to_string),
        summary,
    })
}

/// Whether a change `reader` sees passes the filter's pool. An update names no pool: it
/// passes for a pool whose share of the memory the reader sees as a member (else the
/// filter would tell which pool a memory sits in, through a share the reader cannot
/// see, or that the pool exists).
fn in_pool(s: &State, reader: Option<&Agent>, filter: &Filter, seen: &Seen) -> bool {
    let Some(want) = &filter.pool_id else {
        return true;
    };
    match &seen.pool {
        Some(pool) => pool == want,
        None if seen.kind == "memory.updated" => s.pools.get(want).is_some_and(|p| {
            p.shares.get(&seen.object).is_some_and(|sh| {
                reader.is_none_or(|r| p.members.contains_key(&r.id) && share_visible(s, p, sh, r))
            })
        }),
        None => false,
    }
}

fn member(s: &State, pool_id: &str, reader: &Agent) -> bool {
    s.pools
        .get(pool_id)
        .is_some_and(|p| p.members.contains_key(&reader.id))
}

/// What `event` of `entry` shows `reader` (`None`: the operator, who sees everything)
/// at `now`.
fn describe(
    s: &State,
    reader: Option<&Agent>,
    entry: &Entry,
    event: &Event,
    now: u64,
) -> Option<Seen> {
    let sees = |ok: bool| reader.is_none() || ok;
    // A memory's changes tell its id, its pool, who shared it and at which scope: only
    // to a reader that may read memories (`memory_read`), as `get_memory`,
    // `query_shared` and the searches require, and only while the memory has not
    // expired (it is read nowhere after, as if deleted).
    let memory = match event {
        Event::MemoryShared { memory_id, .. } | Event::MemoryUnshared { memory_id, .. } => {
            Some(memory_id)
        }
        Event::MemoryUpdated { id, .. } => Some(id),
        _ => None,
    };
    if let (Some(id), Some(r)) = (memory, reader)
        && (!r.can(Capability::MemoryRead) || s.memories.get(id).is_some_and(|m| m.is_expired(now)))
    {
        return None;
    }
    match event {
        Event::HandoffInitiated {
            id, source, target, ..
        } => {
            let party = reader.is_some_and(|r| r.id == *source || r.id == *target);
            sees(party).then_some(())?;
            seen(
                "handoff.initiated",
                id,
                None,
                format!("handoff {id} from {source} to {target}"),
            )
        }
        Event::HandoffAccepted { id, .. }
        | Event::HandoffInputRequested { id, .. }
        | Event::HandoffInputProvided { id, .. }
        | Event::HandoffRejected { id, .. }
        | Event::HandoffCancelled { id }
        | Event::HandoffCompleted { id, .. }
        | Event::HandoffExpired { id } => {
            let (kind, verb) = match event {
                Event::HandoffAccepted { .. } => ("handoff.accepted", "accepted"),
                Event::HandoffInputRequested { .. } => {
                    ("handoff.input_required", "needs input from its source")
                }
                Event::HandoffInputProvided { .. } => {
                    ("handoff.input_provided", "answered by its source")
                }
                Event::HandoffRejected { .. } => ("handoff.rejected", "rejected"),
                Event::HandoffCancelled { .. } => ("handoff.cancelled", "cancelled"),
                Event::HandoffCompleted { .. } => ("handoff.completed", "completed"),
                _ => ("handoff.expired", "expired"),
            };
            // A handoff removed since is gone for its parties too.
            let h = s.handoffs.get(id);
            let party = match (reader, h) {
                (Some(r), Some(h)) => r.id == h.source || r.id == h.target,
                _ => false,
            };
            sees(party).then_some(())?;
            let between = h
                .map(|h| format!(" ({} to {})", h.source, h.target))
                .unwrap_or_default();
            seen(kind, id, None, format!("handoff {id}{between} {verb}"))
        }
        Event::MemoryShared {
            pool_id,
            memory_id,
            shared_by,
            scope,
        } => {
            // Shown while the share still stands and reaches the reader.
            let ok = reader.is_some_and(|r| {
                s.pools.get(pool_id).is_some_and(|p| {
                    p.members.contains_key(&r.id)
                        && p.shares
                            .get(memory_id)
                            .is_some_and(|sh| share_visible(s, p, sh, r))
                }) && s.memories.contains_key(memory_id)
            });
            sees(ok).then_some(())?;
            seen(
                "memory.shared",
                memory_id,
                Some(pool_id),
                format!(
                    "memory {memory_id} shared into pool {pool_id} by {shared_by} at scope {scope}"
                ),
            )
        }
        Event::MemoryUpdated { id, .. } => {
            let ok = reader
                .is_some_and(|r| s.memories.get(id).is_some_and(|m| memory_readable(s, m, r)));
            sees(ok).then_some(())?;
            seen("memory.updated", id, None, format!("memory {id} updated"))
        }
        Event::MemoryUnshared {
            pool_id,
            memory_id,
            shared_by,
            scope,
        } => {
            // Shown with its pool to its sharer and to the members the share reached,
            // judged by today's membership (entries from before the share was recorded
            // with it: to the pool's admins); to a reader a `global` or team share
            // reached from outside the pool without it (as `memory.shared` and
            // `memory.updated` never name the pool to such a reader), so a follower
            // keeping the memory learns it is gone.
            let view = match reader {
                None => Some(true),
                Some(r) => s.pools.get(pool_id).and_then(|p| match (shared_by, scope) {
                    (Some(by), Some(scope)) => {
                        let was = Share {
                            n: 0,
                            shared_by: by.clone(),
                            scope: *scope,
                            shared_at: 0,
                        };
                        let reached = share_visible(s, p, &was, r);
                        if *by == r.id || (reached && p.members.contains_key(&r.id)) {
                            Some(true)
                        } else {
                            // From outside the pool (a `global` or team share), only a
                            // reader that existed when it ended may have read it.
                            (reached && r.created_at <= entry.at).then_some(false)
                        }
                    }
                    _ => p
                        .members
                        .get(&r.id)
                        .is_some_and(|m| m.permission == Permission::Admin)
                        .then_some(true),
                }),
            };
            let pool = view?.then_some(pool_id.as_str());
            let deleted = entry
                .events
                .iter()
                .any(|e| matches!(e, Event::MemoryDeleted { id } if id == memory_id));
            let summary = match (deleted, pool) {
                (true, Some(p)) => {
                    format!("memory {memory_id} deleted (it was shared into pool {p})")
                }
                (true, None) => format!("memory {memory_id} deleted"),
                (false, Some(p)) => format!("memory {memory_id} unshared from pool {p}"),
                (false, None) => {
                    format!("memory {memory_id} unshared: a share that reached you ended")
                }
            };
            let kind = if deleted {
                "memory.deleted"
            } else {
                "memory.unshared"
            };
            seen(kind, memory_id, pool, summary)
        }
        Event::MemoryDeleted { id } => {
            // Whoever saw it in a pool learns it from the unshares before this event.
            reader.is_none().then_some(())?;
            seen("memory.deleted", id, None, format!("memory {id} deleted"))
        }
        Event::MemberJoined {
            pool_id,
            agent_id,
            permission,
        } => {
            let ok = reader.is_some_and(|r| r.id == *agent_id || member(s, pool_id, r));
            sees(ok).then_some(())?;
            seen(
                "pool.joined",
                agent_id,
                Some(pool_id),
                format!(
                    "agent {agent_id} is a member of pool {pool_id} with {permission} permission"
                ),
            )
        }
        Event::MemberLeft { pool_id, agent_id } => {
            let ok = reader.is_some_and(|r| r.id == *agent_id || member(s, pool_id, r));
            sees(ok).then_some(())?;
            seen(
                "pool.left",
                agent_id,
                Some(pool_id),
                format!("agent {agent_id} left pool {pool_id}"),
            )
        }
        Event::PoolArchived { id } => {
            sees(reader.is_some_and(|r| member(s, id, r))).then_some(())?;
            seen("pool.archived", id, Some(id), format!("pool {id} archived"))
        }
        Event::PoolDeleted { id, members } => {
            sees(reader.is_some_and(|r| members.contains(&r.id))).then_some(())?;
            seen("pool.deleted", id, Some(id), format!("pool {id} deleted"))
        }
        Event::DocumentsIngested { documents, .. } => {
            // Named and counted by the documents of kinds the reader may read: a batch of
            // several kinds named its first document, whatever its kind, to a reader of
            // any one of them (an incident's id to an agent without `incident_read`).
            let readable = |kind: DocumentKind| reader.is_none_or(|r| r.can(kind.capability()));
            let mut shown = documents.iter().filter(|d| readable(d.kind));
            let first = shown.next()?;
            let object = format!("{}/{}", first.kind, first.id);
            let summary = match 1 + shown.count() {
                1 => format!("knowledge document {object} ingested"),
                n => format!("{n} knowledge documents ingested, first {object}"),
            };
            seen("knowledge.ingested", &object, None, summary)
        }
        Event::DocumentsRemoved { kind, ids } => {
            sees(reader.is_some_and(|r| r.can(kind.capability()))).then_some(())?;
            let object = format!("{kind}/{}", ids.first()?);
            let summary = match ids.len() {
                1 => format!("knowledge document {object} removed"),
                n => format!("{n} knowledge documents removed, first {object}"),
            };
            seen("knowledge.removed", &object, None, summary)
        }
        _ => None,
    }
}

/// Decides the read of a page: the acting-agent rule, then the page over the entries
/// the core read, and the read's audit record.
pub fn get(
    s: &State,
    cx: &mut Cx,
    agent_id: Option<&str>,
    req: &Request,
    entries: &[(u64, Entry)],
    end: u64,
) -> Decided<Page> {
    let reader = cx
        .acting_opt(s, "agent_id", agent_id)
        .map_err(Refusal::from)?;
    if reader.is_none() && *cx.caller != Caller::Operator {
        return Err(Error::denied("an agent reads its own changes").into());
    }
    let page = page(s, reader, req, entries, (end, s.seq), cx.now);
    // A page that shows nothing is not recorded: a follower (an open change-feed
    // stream, a waiter) reads again at every write anyone makes, and a row for each
    // of those reads would let one agent's idle streams write tens of rows per write.
    if page.changes.is_empty() {
        return Ok(Done::nothing(page));
    }
    let rec = record(
        cx.caller.name(),
        "change.listed",
        reader.map(|r| r.id.as_str()),
        json!({
            "after": req.after.to_string(),
            "next": page.next_cursor,
            "count": page.changes.len(),
        }),
    );
    Ok(Done::read(rec, page))
}
