//! The core engine: catch up with the journal, decide, compare-and-append, evolve.

use crate::access;
use crate::error::{Error, Result};
use crate::events::{AuditRecord, Entry, Event, FORMAT_VERSION};
use crate::journal::{Journal, JournalError};
use crate::limits::{Limits, check_id};
use crate::model::Caller;
use crate::state::{Agent, AuditEntry, State};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;

/// How many times a change is decided again after losing a compare-and-append race.
pub const MAX_ATTEMPTS: usize = 16;
/// Entries read per journal call while catching up.
const CATCH_UP_BATCH: u32 = 512;

/// How the error answering a call begins when the journal no longer holds the history
/// this core applied: it ends before the core's position, or its next entry does not
/// follow the last one applied (another process set a damaged tail aside, and entries
/// were written since). The state is not the journal's: the host starts the core again
/// from the journal.
pub const JOURNAL_REWRITTEN: &str = "the journal was rewritten under this core";

fn rewritten(why: String) -> Error {
    Error::Unavailable(format!("{JOURNAL_REWRITTEN}: {why}"))
}

/// Where time and randomness come from. Decide gets them through [`Cx`] only, and they
/// are recorded in events, so replay never consults either.
pub trait Env {
    /// Wall-clock time in ms since the epoch.
    fn now_ms(&mut self) -> u64;
    /// Fills `buf` with random bytes.
    fn fill_random(&mut self, buf: &mut [u8]);
}

/// A deterministic [`Env`] for tests, examples and benchmarks (a served core reads the
/// host's clock and randomness): a clock that starts at `now` and moves `step` ms at
/// each reading (with `step` 0, whoever holds it moves `now`), and bytes from a
/// seeded xorshift generator. Only in tests and with the `seeded-env` feature.
#[cfg(any(test, feature = "seeded-env"))]
pub struct SeededEnv {
    /// The time the next reading moves from (the last reading, once read).
    pub now: u64,
    /// How far each reading moves the clock, in ms.
    pub step: u64,
    state: u64,
}

#[cfg(any(test, feature = "seeded-env"))]
impl SeededEnv {
    /// A clock at `now` moving `step` ms per reading; `seed` picks the byte sequence
    /// (0 is read as 1: xorshift stays at zero).
    pub fn new(now: u64, step: u64, seed: u64) -> Self {
        Self {
            now,
            step,
            state: seed.max(1),
        }
    }
}

#[cfg(any(test, feature = "seeded-env"))]
impl Env for SeededEnv {
    fn now_ms(&mut self) -> u64 {
        self.now = self.now.saturating_add(self.step);
        self.now
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = (self.state & 0xff) as u8;
        }
    }
}

/// What decide may consult besides the state.
pub struct Cx<'a> {
    /// The time of this change.
    pub now: u64,
    /// Who is calling.
    pub caller: &'a Caller,
    /// The limits in force.
    pub limits: &'a Limits,
    env: &'a mut dyn Env,
    /// The agent the operator acts as in this call, once [`Cx::acting`] found it: every
    /// audit record of the call names it ([`ON_BEHALF`]).
    on_behalf: Option<String>,
}

impl<'a> Cx<'a> {
    /// A context for deciding outside the engine (rule tests).
    #[cfg(test)]
    pub(crate) fn new(
        now: u64,
        caller: &'a Caller,
        limits: &'a Limits,
        env: &'a mut dyn Env,
    ) -> Self {
        Cx {
            now,
            caller,
            limits,
            env,
            on_behalf: None,
        }
    }

    /// The acting agent `agent_id` ([`access::acting`]); when the operator acts (or
    /// tries to act) as an agent that exists, the call's audit records say so, a refusal
    /// (a deactivated agent, a missing capability) included.
    pub fn acting<'s>(&mut self, s: &'s State, field: &str, agent_id: &str) -> Result<&'s Agent> {
        self.note_acting(s, Some(agent_id));
        access::acting(s, self.caller, field, agent_id)
    }

    /// The acting agent of an operation the operator may also do as itself
    /// ([`access::acting_opt`]), noted as [`Cx::acting`] notes it.
    pub fn acting_opt<'s>(
        &mut self,
        s: &'s State,
        field: &str,
        agent_id: Option<&str>,
    ) -> Result<Option<&'s Agent>> {
        self.note_acting(s, agent_id);
        access::acting_opt(s, self.caller, field, agent_id)
    }

    /// Keeps the agent the operator names, if it exists (an unknown id is not recorded:
    /// it names no one).
    fn note_acting(&mut self, s: &State, agent_id: Option<&str>) {
        if let (Caller::Operator, Some(id)) = (self.caller, agent_id)
            && s.agents.contains_key(id)
        {
            self.on_behalf = Some(id.to_string());
        }
    }

    /// A fresh random UUID (v4) text.
    pub fn fresh_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.env.fill_random(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    /// A fresh secret token: `maas_` and 64 hex digits, 56 random (224 bits) and 8 that
    /// check them (see [`crate::token`]).
    pub fn fresh_token(&mut self) -> String {
        let mut bytes = [0u8; crate::token::RANDOM_BYTES];
        self.env.fill_random(&mut bytes);
        format!("maas_{}", crate::token::body(&bytes))
    }
}

/// A decided operation: the events to append, the value to return, whether the caller's
/// answer must wait for the events to be durable, and the audit record of a read.
pub struct Done<T> {
    /// Events to append (may be empty: nothing to write).
    pub events: Vec<Event>,
    /// What the operation returns.
    pub value: T,
    /// True for changes; false for entries whose durability may ride the next sync.
    pub sync: bool,
    /// A read's audit record: it goes to the read-audit log, never to the journal.
    pub read: Option<AuditRecord>,
}

impl<T> Done<T> {
    /// A change.
    pub fn change(events: Vec<Event>, value: T) -> Self {
        Done {
            events,
            value,
            sync: true,
            read: None,
        }
    }

    /// A read, audited by `record` in the read-audit log.
    pub fn read(record: AuditRecord, value: T) -> Self {
        Done {
            events: Vec::new(),
            value,
            sync: false,
            read: Some(record),
        }
    }

    /// A call that writes nothing at all.
    pub fn nothing(value: T) -> Self {
        Done {
            events: Vec::new(),
            value,
            sync: false,
            read: None,
        }
    }
}

/// A refused call, and whether the refusal is written to the audit trail.
#[derive(Debug)]
pub struct Refusal {
    /// The error returned to the caller.
    pub error: Error,
    /// Audit it (every permission denial, and rejected suspicious content).
    pub audit: bool,
    /// Put it on record in the read-audit log as `handoff.out_of_turn`: a party to a
    /// handoff tried a step its status does not allow (accepting it twice, completing
    /// it before accepting, acting on it after it expired).
    pub out_of_turn: bool,
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        let audit = matches!(error, Error::PermissionDenied(_));
        Refusal {
            error,
            audit,
            out_of_turn: false,
        }
    }
}

impl Refusal {
    /// An error that is audited whatever its kind.
    pub fn audited(error: Error) -> Self {
        Refusal {
            error,
            audit: true,
            out_of_turn: false,
        }
    }

    /// A step a handoff's status does not allow, kept in the read-audit log.
    pub fn out_of_turn(error: Error) -> Self {
        Refusal {
            error,
            audit: false,
            out_of_turn: true,
        }
    }
}

/// The audit record of a refusal: the operation, the error's code and (except for a
/// miss, which must tell nothing) its reason; the outcome is `denied` for a denial and
/// the error's code otherwise. The target and the reason are what the caller sent (an
/// id it asked for, a value it gave), so secrets in them are redacted as in any text
/// that is kept: a key passed as a memory id must not land in the audit trail.
fn refusal_record(
    caller: &Caller,
    op: &str,
    target: Option<&str>,
    event_type: &str,
    refusal: &Refusal,
) -> AuditRecord {
    let code = refusal.error.code();
    let mut detail = serde_json::json!({ "operation": op, "error": code });
    if let Some(fields) = detail
        .as_object_mut()
        .filter(|_| event_type != "access.missed")
    {
        let reason = crate::secrets::redact(&refusal.error.to_string()).text;
        fields.insert("reason".into(), reason.into());
    }
    let target = target.map(|t| crate::secrets::redact(t).text);
    let mut rec = record(caller.name(), event_type, target.as_deref(), detail);
    rec.outcome = if refusal.audit { "denied" } else { code }.to_string();
    rec
}

/// The key of an operator's audit record that names the agent it acted as: `maas audit
/// --agent X` finds what was done as X by it. The detail is compact JSON and ids hold no
/// char JSON escapes, so `"on_behalf_of":"X"` in it names exactly X (a quote inside a
/// string value would be escaped).
pub const ON_BEHALF: &str = "on_behalf_of";

/// `rec` with the agent the operator acted as in its detail (`"on_behalf_of"`), if any.
fn name_on_behalf(mut rec: AuditRecord, on_behalf: Option<&str>) -> AuditRecord {
    let Some(agent_id) = on_behalf.filter(|_| rec.actor == Caller::Operator.name()) else {
        return rec;
    };
    let Ok(mut detail) =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&rec.detail)
    else {
        return rec;
    };
    // Redacted as the record's other fields are (an id may look like a token).
    detail.insert(ON_BEHALF.into(), redact_tokens(agent_id).into());
    rec.detail = serde_json::Value::Object(detail).to_string();
    rec
}

/// Bytes the heap holds, as the component's allocator counts them (it adds what it
/// hands out and takes off what is freed); zero where nothing counts (native builds).
pub static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The bytes a wasm32 instance can address.
const ADDRESSABLE: u64 = 4 << 30;

/// Whether the instance's memory is past `limit` ([`Limits::memory_bytes`]). What the
/// heap holds decides, so deleting makes room again; the instance's size, which never
/// shrinks, decides only past half the room left above the limit (3.5 GiB by
/// default), where memory freed in scattered pieces might not fit what is asked.
fn memory_full(limit: u64) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        let size = (core::arch::wasm32::memory_size(0) as u64).saturating_mul(65_536);
        let held = HEAP_BYTES.load(std::sync::atomic::Ordering::Relaxed) as u64;
        let used = if held > 0 { held } else { size };
        used > limit || size > limit + ADDRESSABLE.saturating_sub(limit) / 2
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (limit, ADDRESSABLE, &HEAP_BYTES);
        false
    }
}

/// Refuses a change that adds state once the instance's memory is past `limit`
/// ([`memory_full`]): a wasm32 instance can address 4 GiB, and a trap at that wall
/// would take every caller's answer with it.
fn check_memory(events: &[Event], limit: u64) -> Result<()> {
    let frees = events.iter().all(|e| {
        matches!(
            e,
            Event::MemoryDeleted { .. }
                | Event::MemoryUnshared { .. }
                | Event::HandoffRemoved { .. }
                | Event::PoolDeleted { .. }
                | Event::AgentUnregistered { .. }
                | Event::Audited(_)
        )
    });
    if !frees && memory_full(limit) {
        return Err(Error::capacity("memory-bytes", limit));
    }
    Ok(())
}

/// What decide returns.
pub type Decided<T> = std::result::Result<Done<T>, Refusal>;

/// Builds an audit record. Token-shaped text is redacted from every field that can carry
/// caller input: a client that pastes its token where an id belongs must not get the
/// token written to the journal.
pub fn record(
    actor: &str,
    event_type: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        actor: redact_tokens(actor),
        event_type: event_type.to_string(),
        target: target.map(redact_tokens),
        outcome: "ok".to_string(),
        detail: match &detail {
            // The detail of most reads: no text to encode or scan.
            serde_json::Value::Object(fields) if fields.is_empty() => "{}".to_string(),
            _ => redact_tokens(&detail.to_string()),
        },
        prev: None,
        covers: None,
    }
}

/// Replaces `maas_` followed by 32 or more hex digits (an agent token, whole or mistyped),
/// and a token's 64 digits without their prefix (told by their check digits, see
/// [`crate::token`]), with `[REDACTED:token]`. The marker holds no quote or backslash,
/// so JSON stays JSON.
pub fn redact_tokens(text: &str) -> String {
    let prefixed = redact_prefixed_tokens(text);
    if prefixed.len() < crate::token::BODY_HEX {
        return prefixed;
    }
    let mut bare = Vec::new();
    crate::token::bare_tokens(&prefixed, |start, end| bare.push((start, end)));
    if bare.is_empty() {
        return prefixed;
    }
    let mut out = String::with_capacity(prefixed.len());
    let mut from = 0;
    for (start, end) in bare {
        out.push_str(prefixed.get(from..start).unwrap_or_default());
        out.push_str("[REDACTED:token]");
        from = end;
    }
    out.push_str(prefixed.get(from..).unwrap_or_default());
    out
}

/// Whether [`redact_tokens`] would change `text` (without building its answer unless
/// `text` holds `maas_`).
pub fn holds_token(text: &str) -> bool {
    let mut bare = false;
    crate::token::bare_tokens(text, |_, _| bare = true);
    bare || (text.contains("maas_") && redact_prefixed_tokens(text) != text)
}

/// [`redact_tokens`] of the tokens written with their prefix (`maas_`, or the
/// operator's `maas_op_`).
fn redact_prefixed_tokens(text: &str) -> String {
    const PREFIX: &str = "maas_";
    // Too short to hold a token (or no prefix at all): nothing to scan for.
    if text.len() < PREFIX.len() + 32 || !text.contains(PREFIX) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + PREFIX.len()..).unwrap_or_default();
        let body = after.strip_prefix("op_").unwrap_or(after);
        let hex = body.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex >= 32 {
            out.push_str("[REDACTED:token]");
            rest = body.get(hex..).unwrap_or_default();
        } else {
            out.push_str(PREFIX);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A core: state, the journal it runs on, and its environment.
pub struct Engine<J: Journal, E: Env> {
    /// The state as of `state.seq`.
    pub state: State,
    /// The limits in force.
    pub limits: Limits,
    /// The journal.
    pub journal: J,
    /// Time and randomness.
    pub env: E,
    /// How fast each agent may write.
    pub rates: Rates,
    /// Bytes the next call paid ahead ([`Engine::pay_ahead`]).
    prepaid: Option<usize>,
}

/// One token bucket per agent over the journal writes its calls cause (refusals that
/// are audited included): `writes_per_minute` in a burst, refilled at that rate. Kept in
/// the process, not in the state: it guards this host's journal and decides nothing
/// that is replayed.
///
/// And one per owner over the bytes of journal entries its agents' calls write
/// (`write_bytes_per_minute`): a write is refused while the owner's bucket is spent,
/// and a write that passes may spend more than is left (a budget in debt refills first),
/// so the check before a costly decision ([`Rates::bytes_left`]) needs no size.
#[derive(Debug, Default)]
pub struct Rates {
    /// Agent to (tokens in 1/60000ths of a write, time of the last refill).
    buckets: BTreeMap<String, (u64, u64)>,
    /// Owner to (bytes in 1/60000ths of a byte, negative in debt; time of the last
    /// refill).
    bytes: BTreeMap<String, (i128, u64)>,
}

impl Rates {
    /// A write's cost in bucket units.
    const WRITE: u64 = 60_000;

    /// Takes one write for `agent` at `now`; if none is left, how many ms until one is.
    pub fn take(&mut self, agent: &str, now: u64, per_minute: u64) -> Result<(), u64> {
        self.refilled(agent, now, per_minute)?;
        if let Some((tokens, _)) = self.buckets.get_mut(agent) {
            *tokens -= Self::WRITE;
        }
        Ok(())
    }

    /// Whether `agent` has a write left at `now`, taking none; if not, how many ms until
    /// one is. For a call charged only once it has succeeded ([`Rates::take`] then).
    pub fn check(&mut self, agent: &str, now: u64, per_minute: u64) -> Result<(), u64> {
        self.refilled(agent, now, per_minute)
    }

    /// `owner`'s byte budget at `now`, refilled (in 1/60000ths of a byte).
    fn byte_bucket(&mut self, owner: &str, now: u64, per_minute: u64) -> &mut i128 {
        let per_minute = i128::from(per_minute.max(1));
        let cap = per_minute * i128::from(Self::WRITE);
        let (tokens, last) = self.bytes.entry(owner.to_string()).or_insert((cap, now));
        let elapsed = i128::from(now.saturating_sub(*last));
        *tokens = (*tokens + elapsed * per_minute).min(cap);
        *last = (*last).max(now);
        tokens
    }

    /// Whether `owner`'s agents may write at `now` (their budget is not spent); if not,
    /// how many ms until it is.
    pub fn bytes_left(&mut self, owner: &str, now: u64, per_minute: u64) -> Result<(), u64> {
        let tokens = *self.byte_bucket(owner, now, per_minute);
        if tokens > 0 {
            Ok(())
        } else {
            // Until the debt is paid and one byte more.
            let per_minute = i128::from(per_minute.max(1));
            let wait = (1 - tokens + per_minute - 1) / per_minute;
            Err(u64::try_from(wait).unwrap_or(u64::MAX))
        }
    }

    /// Spends `len` bytes of `owner`'s budget at `now` (it may go into debt).
    pub fn spend_bytes(&mut self, owner: &str, now: u64, per_minute: u64, len: usize) {
        let tokens = self.byte_bucket(owner, now, per_minute);
        let len = i128::try_from(len).unwrap_or(i128::MAX / 2);
        *tokens = tokens.saturating_sub(len.saturating_mul(i128::from(Self::WRITE)));
    }

    fn refilled(&mut self, agent: &str, now: u64, per_minute: u64) -> Result<(), u64> {
        let per_minute = per_minute.max(1);
        let cap = per_minute.saturating_mul(Self::WRITE);
        let (tokens, last) = self.buckets.entry(agent.to_string()).or_insert((cap, now));
        let elapsed = now.saturating_sub(*last);
        *tokens = tokens
            .saturating_add(elapsed.saturating_mul(per_minute))
            .min(cap);
        *last = (*last).max(now);
        if *tokens >= Self::WRITE {
            Ok(())
        } else {
            Err((Self::WRITE - *tokens).div_ceil(per_minute))
        }
    }
}

/// The core error for a journal failure outside compare-and-append.
pub(crate) fn journal_error(e: JournalError) -> Error {
    match e {
        JournalError::Conflict(head) => {
            Error::Unavailable(format!("journal moved on to {head} while reading"))
        }
        JournalError::Unavailable(m) => Error::Unavailable(m),
    }
}

impl<J: Journal, E: Env> Engine<J, E> {
    /// A core over `journal` with `limits`, not yet caught up.
    pub fn new(journal: J, env: E, limits: Limits) -> Self {
        let limits = limits.with_defaults();
        Engine {
            state: State::new(usize::try_from(limits.audit_window).unwrap_or(usize::MAX)),
            limits,
            journal,
            env,
            rates: Rates::default(),
            prepaid: None,
        }
    }

    /// Changes the limits in force.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits.with_defaults();
        self.state.audit_window = usize::try_from(self.limits.audit_window).unwrap_or(usize::MAX);
        self.state.trim_audit();
    }

    /// Applies every journal entry after `state.seq`.
    pub fn catch_up(&mut self) -> Result<()> {
        self.catch_up_timed().map(|_| ())
    }

    /// [`Engine::catch_up`], and the time once caught up, from the journal's last answer
    /// if it tells the time, else from the environment.
    fn catch_up_timed(&mut self) -> Result<u64> {
        // The first entry read must follow the last one this core applied (a replay from
        // the start has none: it takes the journal as it is, and `maas audit verify`
        // names any link broken inside it).
        let mut junction = self.state.seq > 0;
        loop {
            let (head, now) = self.journal.head_and_time().map_err(journal_error)?;
            if head < self.state.seq {
                return Err(rewritten(format!(
                    "it ends at entry {head}, and this core applied entries up to {}",
                    self.state.seq
                )));
            }
            if head == self.state.seq {
                return Ok(now.unwrap_or_else(|| self.env.now_ms()));
            }
            let entries = self
                .journal
                .read(self.state.seq + 1, CATCH_UP_BATCH)
                .map_err(journal_error)?;
            if entries.is_empty() {
                return Err(Error::Unavailable(format!(
                    "journal head is {head} but entry {} cannot be read",
                    self.state.seq + 1
                )));
            }
            for (seq, data) in entries {
                if seq != self.state.seq + 1 {
                    return Err(Error::Unavailable(format!(
                        "journal gap: expected entry {}, got {seq}",
                        self.state.seq + 1
                    )));
                }
                let entry = Entry::decode(seq, &data)?;
                // An entry's first audit record names the audit chain's head before it.
                if junction && let Some(prev) = entry.chain_link() {
                    junction = false;
                    if prev != self.state.audit_head {
                        return Err(rewritten(format!(
                            "entry {seq} does not follow entry {} as this core applied it",
                            self.state.seq
                        )));
                    }
                }
                self.state.apply(seq, &entry);
            }
        }
    }

    /// Writes a read's audit record to the read-audit log, naming the journal position
    /// and audit chain head the read saw.
    /// Its row is paid for by the actor's owner, by its size (a listing of 500 pools'
    /// ids wrote a row of 66 KB: agents repeating a 100-byte call grew the log by 610 MB a
    /// minute).
    pub fn audit_read(&mut self, now: u64, mut rec: AuditRecord) -> Result<()> {
        rec.prev = Some(self.state.audit_head.clone());
        let owner = self
            .state
            .agents
            .get(&rec.actor)
            .map(|a| a.owner_id.clone());
        let entry = AuditEntry {
            seq: self.state.seq,
            at: now,
            record: rec,
        };
        let size = crate::audit::entry_bytes(&entry);
        self.journal.audit_append(entry).map_err(journal_error)?;
        if let Some(owner) = owner {
            let limit = self.limits.write_bytes_per_minute;
            self.rates.spend_bytes(&owner, now, limit, size);
        }
        Ok(())
    }

    /// Pays `bytes` of `caller`'s owner's budget ahead of a change whose decision costs
    /// by the size of its input (a knowledge ingest: every text is examined), refusing
    /// `rate-limited` while the budget is spent. A refused change is paid for all the
    /// same (ingests refused for their last document after every text was examined
    /// held the core for every owner, unpaid); the change's own entry, if written, pays
    /// only what it adds beyond them.
    pub fn pay_ahead(&mut self, caller: &Caller, bytes: usize) -> Result<()> {
        self.check_write_bytes(caller)?;
        if let Some(owner) = self.owner_of(caller) {
            let now = self.env.now_ms();
            let limit = self.limits.write_bytes_per_minute;
            self.rates.spend_bytes(&owner, now, limit, bytes);
            self.prepaid = Some(bytes);
        }
        Ok(())
    }

    /// The owner of the agent `caller` is, whose journal bytes its writes spend (the
    /// operator spends none).
    fn owner_of(&self, caller: &Caller) -> Option<String> {
        match caller {
            Caller::Agent(me) => self.state.agents.get(me).map(|a| a.owner_id.clone()),
            Caller::Operator => None,
        }
    }

    /// Refuses `rate-limited` when the agents of `caller`'s owner have spent their
    /// journal bytes (`write_bytes_per_minute`): for a costly change, before its
    /// decision is made.
    pub fn check_write_bytes(&mut self, caller: &Caller) -> Result<()> {
        let Some(owner) = self.owner_of(caller) else {
            return Ok(());
        };
        let now = self.env.now_ms();
        self.rates
            .bytes_left(&owner, now, self.limits.write_bytes_per_minute)
            .map_err(Error::RateLimited)
    }

    /// Runs one operation: catch up, decide, append (retrying on a lost race), evolve.
    /// `op` and `target` name the operation in the audit record of a refusal.
    pub fn run<T>(
        &mut self,
        caller: &Caller,
        op: &str,
        target: Option<&str>,
        mut decide: impl FnMut(&State, &mut Cx) -> Decided<T>,
    ) -> Result<T> {
        // A caller id that cannot be an agent id is refused before anything can echo it
        // into an error or the audit trail; a malformed target is not recorded either.
        if let Caller::Agent(me) = caller {
            check_id("caller", me)?;
        }
        let target = target.filter(|t| check_id("target", t).is_ok());
        // Every call of an agent writes something (a change, or a read's audit row) that
        // its owner's byte budget pays for: none goes in while the budget is spent.
        // (A change paid ahead was checked as it paid.)
        let prepaid = self.prepaid.take();
        if prepaid.is_none() {
            self.check_write_bytes(caller)?;
        }
        let mut charged = false;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.catch_up_timed()?;
            // Reads and quotas decide on the read-access bitmaps: a restore leaves them
            // to the first operation.
            self.state.end_deferred_access();
            let mut cx = Cx {
                now,
                caller,
                limits: &self.limits,
                env: &mut self.env,
                on_behalf: None,
            };
            let decided = decide(&self.state, &mut cx);
            let on_behalf = cx.on_behalf.take();
            let stamp = |rec: AuditRecord| name_on_behalf(rec, on_behalf.as_deref());
            let (mut events, result, sync) = match decided {
                Ok(Done {
                    value,
                    read: Some(rec),
                    ..
                }) => {
                    return self.audit_read(now, stamp(rec)).map(|()| value);
                }
                Ok(mut done) => {
                    if on_behalf.is_some() {
                        for event in &mut done.events {
                            if let Event::Audited(rec) = event {
                                *rec = stamp(std::mem::take(rec));
                            }
                        }
                    }
                    (done.events, Ok(done.value), done.sync)
                }
                Err(refusal) if refusal.audit => {
                    let rec = refusal_record(caller, op, target, "access.denied", &refusal);
                    (vec![Event::Audited(stamp(rec))], Err(refusal.error), false)
                }
                // Two refusals leave a read-audit row and no journal entry. An agent
                // asking for something it cannot see (it does not exist, or it is
                // another owner's: the two answers are the same), so probing for ids is
                // on record without revealing anything to the prober (no reason is
                // kept). And a handoff step out of turn: who tried to accept a handoff
                // twice, or to complete one never accepted.
                Err(refusal)
                    if refusal.out_of_turn
                        || (matches!(refusal.error, Error::NotFound(_))
                            && matches!(caller, Caller::Agent(_))) =>
                {
                    let event_type = if refusal.out_of_turn {
                        "handoff.out_of_turn"
                    } else {
                        "access.missed"
                    };
                    let rec = refusal_record(caller, op, target, event_type, &refusal);
                    self.audit_read(now, stamp(rec))?;
                    return Err(refusal.error);
                }
                Err(refusal) => return Err(refusal.error),
            };
            if events.is_empty() {
                return result;
            }
            check_memory(&events, self.limits.memory_bytes)?;
            let owner = self.owner_of(caller);
            if let (Caller::Agent(me), false) = (caller, charged) {
                self.rates
                    .take(me, now, self.limits.writes_per_minute)
                    .map_err(Error::RateLimited)?;
                charged = true;
            }
            let head = chain(&mut events, &self.state.audit_head, self.state.seq + 1, now);
            let entry = Entry {
                v: FORMAT_VERSION,
                at: now,
                events,
            };
            let data = entry.encode()?;
            match self.journal.append(self.state.seq, &data, sync) {
                Ok(seq) => {
                    if let Some(owner) = &owner {
                        let len = data.len().saturating_sub(prepaid.unwrap_or(0));
                        let limit = self.limits.write_bytes_per_minute;
                        self.rates.spend_bytes(owner, now, limit, len);
                    }
                    self.state.apply_chained(seq, &entry, head);
                    return result;
                }
                Err(JournalError::Conflict(_)) => continue,
                Err(JournalError::Unavailable(m)) => return Err(Error::Unavailable(m)),
            }
        }
        Err(Error::Unavailable(format!(
            "the journal kept changing; gave up after {MAX_ATTEMPTS} attempts"
        )))
    }
}

/// Links the audit records of an entry about to be appended at `seq` into the chain
/// whose head is `head`, as [`State::apply`](crate::state::State::apply) would extend it,
/// and returns the head after them (for
/// [`State::apply_chained`](crate::state::State::apply_chained)).
fn chain(events: &mut [Event], head: &str, seq: u64, at: u64) -> String {
    let mut head = head.to_string();
    let covers = events
        .iter()
        .any(|e| matches!(e, Event::Audited(_)))
        .then(|| crate::audit::covers(events.iter()));
    for event in events {
        if let Event::Audited(r) = event {
            r.prev = Some(head.clone());
            r.covers.clone_from(&covers);
            head = crate::audit::chain_hash(&head, seq, at, r);
        }
    }
    head
}

#[cfg(test)]
mod redaction_tests {
    use super::{record, redact_tokens};

    #[test]
    fn tokens_are_redacted_and_short_text_is_kept() {
        let token = format!("maas_{}", "ab".repeat(16));
        assert_eq!(redact_tokens(&token), "[REDACTED:token]");
        assert_eq!(redact_tokens(&format!("x {token}y")), "x [REDACTED:token]y");
        let short = format!("maas_{}", "a".repeat(31));
        assert_eq!(redact_tokens(&short), short);
        assert_eq!(redact_tokens("operator"), "operator");
        assert_eq!(redact_tokens(""), "");
        // A token's digits without their prefix, told by their check digits; a digest
        // of the same shape stays.
        let body = crate::token::body(&[7; crate::token::RANDOM_BYTES]);
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(
            redact_tokens(&format!("id {body} and {digest}, again {body}")),
            format!("id [REDACTED:token] and {digest}, again [REDACTED:token]")
        );
        assert_eq!(redact_tokens(&format!("maas_{body}")), "[REDACTED:token]");
        // Written in groups, as a token read aloud is.
        let grouped = crate::token::split(&body, 16, "-");
        assert_eq!(
            redact_tokens(&format!("id {grouped}.")),
            "id [REDACTED:token]."
        );
        let operator = format!("maas_op_{}", "5c".repeat(32));
        assert_eq!(redact_tokens(&format!("{operator}.")), "[REDACTED:token].");
        assert_eq!(redact_tokens("maas_op_x"), "maas_op_x");
        for text in [
            token.as_str(),
            &operator,
            &body,
            "maas_op_x",
            "operator",
            digest,
        ] {
            assert_eq!(
                super::holds_token(text),
                redact_tokens(text) != text,
                "{text}"
            );
        }
    }

    #[test]
    fn an_empty_detail_is_an_empty_object() {
        let rec = record("operator", "agent.read", Some("a"), serde_json::json!({}));
        assert_eq!(rec.detail, "{}");
        let token = format!("maas_{}", "0".repeat(40));
        let rec = record(
            &token,
            "agent.read",
            None,
            serde_json::json!({ "t": token }),
        );
        assert_eq!(rec.actor, "[REDACTED:token]");
        assert_eq!(rec.detail, r#"{"t":"[REDACTED:token]"}"#);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod rewritten_tests {
    use super::{JOURNAL_REWRITTEN, SeededEnv};
    use crate::agents::RegistrationRequest;
    use crate::journal::MemoryJournal;
    use crate::model::{AgentType, Caller};
    use crate::{Core, Error, Limits};

    type TestCore = Core<MemoryJournal, SeededEnv>;

    fn core(entries: Vec<Vec<u8>>, seed: u64) -> TestCore {
        let mut c = Core::over_entries(entries, seed);
        c.init(Limits::default()).unwrap();
        c
    }

    fn register(c: &mut TestCore, id: &str) -> Result<(), Error> {
        let req = RegistrationRequest {
            agent_type: AgentType::ClaudeCode,
            owner_id: "u-1".into(),
            agent_id: Some(id.into()),
            capabilities: None,
            metadata: None,
        };
        c.register(&Caller::Operator, &req).map(|_| ())
    }

    fn is_rewritten(e: &Error) -> bool {
        matches!(e, Error::Unavailable(m) if m.starts_with(JOURNAL_REWRITTEN))
    }

    #[test]
    fn a_journal_cut_below_the_core_or_rewritten_past_it_is_refused_not_applied() {
        let mut a = core(Vec::new(), 7);
        for id in ["a1", "a2", "a3", "a4"] {
            register(&mut a, id).unwrap();
        }
        // Another process sets the tail after entry 2 aside.
        a.engine.journal.entries.truncate(2);
        let e = register(&mut a, "a5").unwrap_err();
        assert!(is_rewritten(&e), "{e:?}");
        let e = a.get_agent(&Caller::Operator, "a1").unwrap_err();
        assert!(is_rewritten(&e), "{e:?}");
        // ... and writes past this core's position: its entry 5 does not follow the 4
        // this core applied.
        let mut b = core(a.engine.journal.entries.clone(), 9);
        for id in ["b1", "b2", "b3"] {
            register(&mut b, id).unwrap();
        }
        a.engine
            .journal
            .entries
            .clone_from(&b.engine.journal.entries);
        let e = a.get_agent(&Caller::Operator, "b1").unwrap_err();
        assert!(is_rewritten(&e), "{e:?}");
        assert!(a.get_agent(&Caller::Operator, "a3").is_err());
        // A core started from that journal has its history, and goes on.
        let mut c = core(b.engine.journal.entries.clone(), 11);
        assert!(c.get_agent(&Caller::Operator, "b3").is_ok());
        assert!(c.get_agent(&Caller::Operator, "a3").is_err());
        register(&mut c, "c1").unwrap();
        // Entries written after this core's own, by another core on the same history,
        // follow it.
        let mut d = core(c.engine.journal.entries.clone(), 13);
        register(&mut d, "d1").unwrap();
        c.engine
            .journal
            .entries
            .clone_from(&d.engine.journal.entries);
        assert!(c.get_agent(&Caller::Operator, "d1").is_ok());
    }
}
