//! Requests refused before they reach the core (no or a bad token, another principal's
//! session, a foreign origin) cost almost nothing: they are counted per source address,
//! rate-limited per source address with a token bucket (every loopback address counts as
//! one, IPv6 by its /64), and written to the audit trail as at most one aggregated entry
//! per source address per interval, for the [`MAX_SUMMARIES`] addresses refused most and
//! one entry for all the others (bad tokens, the refusals that reached the core, rank
//! first). The addresses together have a budget too: a flood from many addresses spends
//! it, and then an address already refused meanwhile gets no unknown token to the core
//! until it refills; an address not refused since its budget was last full still gets
//! its first ones checked (the agents already known get through from anywhere).
//!
//! Beyond the bucket, a request from that address is answered 429 before its token is
//! looked up in the core, unless it carries the operator token or an agent token that
//! authenticated before (kept as SHA-256 digests), so a flood from a shared address
//! (loopback) does not lock out the agents already working there. A bad token within
//! the bucket is still checked by the core, which audits that failure itself.
//!
//! The digests are kept in a file of the data directory too (`http-known-tokens`, see
//! [`crate::known_tokens`]), so a restarted server still knows the agents that worked
//! with it before, and an agent registered while its address is flooded (by this server,
//! the CLI or another process on the data directory, which note the tokens they issue
//! there) gets through at once: the file is read again when it has changed. A digest of
//! a token that stopped authenticating (its agent was deactivated or unregistered, or the
//! token rotated) is dropped from both when the token is next refused, or when the
//! server's sweep finds it revoked while it holds a session or a stream. An agent
//! rotates its own token a few times a minute at most (`ROTATIONS_PER_MINUTE` in the
//! core, counted by each process), which keeps fresh digests from crowding the others
//! out at any pace that matters.

use crate::known_tokens::{self, MOST, Stamp, TokenDigest, digest};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How refusals are limited and reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefusalLimits {
    /// Refusals an address may have at once before it is answered 429.
    pub burst: u32,
    /// Refusals per minute an address gets back.
    pub per_minute: u32,
    /// How often the aggregated audit entries are written.
    pub audit_interval: Duration,
    /// Refusals all addresses together may have at once before every request with an
    /// unknown token is answered 429.
    pub burst_all: u32,
    /// Refusals per minute all addresses together get back.
    pub per_minute_all: u32,
    /// How often a token that was known and stopped authenticating (its agent
    /// deactivated, its token rotated) may still pass as known, to be asked again: a
    /// deactivated agent's token comes back when it is reactivated, and waited for its
    /// address's budget like a stranger's (a minute under another client's flood).
    pub lapsed_retry: Duration,
}

impl Default for RefusalLimits {
    fn default() -> Self {
        RefusalLimits {
            burst: 10,
            per_minute: 10,
            audit_interval: Duration::from_secs(60),
            burst_all: 200,
            per_minute_all: 600,
            lapsed_retry: Duration::from_secs(5),
        }
    }
}

/// Most addresses named in an interval's audit entries, those refused most; the others
/// are counted together in one more entry.
pub const MAX_SUMMARIES: usize = 16;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// A token the core did not accept.
    BadToken,
    /// A session id opened by another principal.
    ForeignSession,
    /// A session id opened by the same agent with another token (before a rotation).
    StaleSession,
    /// An `Origin` not on the allow-list.
    Origin,
    /// A `Host` not on the allow-list.
    Host,
    /// Beyond the address's refusal budget.
    RateLimited,
}

impl Reason {
    fn label(self) -> &'static str {
        match self {
            Reason::MissingToken => "no token",
            Reason::BadToken => "invalid token",
            Reason::ForeignSession => "another principal's session",
            Reason::StaleSession => "a session of another token",
            Reason::Origin => "origin not allowed",
            Reason::Host => "host not allowed",
            Reason::RateLimited => "rate limited",
        }
    }
}

/// One source address's bucket and the refusals not yet audited.
#[derive(Debug)]
struct Source {
    tokens: f64,
    refilled: Instant,
    pending: BTreeMap<Reason, u64>,
    /// Tokens of this address being checked by the core (reserved, not yet resolved).
    checking: u32,
}

/// A token bucket of `burst` that gets `per_minute` back: whether one can be taken, and
/// (`take`) taking it.
fn bucket(
    tokens: &mut f64,
    refilled: &mut Instant,
    burst: u32,
    per_minute: u32,
    take: bool,
) -> bool {
    let now = Instant::now();
    let elapsed = now.saturating_duration_since(*refilled).as_secs_f64();
    let rate = f64::from(per_minute) / 60.0;
    *tokens = (*tokens + elapsed * rate).min(f64::from(burst));
    *refilled = now;
    let within = *tokens >= 1.0;
    if within && take {
        *tokens -= 1.0;
    }
    within
}

/// Most source addresses tracked at once; beyond, new ones share one bucket.
const MAX_SOURCES: usize = 65_536;

/// One aggregated audit entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The source address (IPv6 addresses by their /64); the unspecified address for the
    /// entry counting the addresses beyond [`MAX_SUMMARIES`].
    pub source: IpAddr,
    /// Refused requests since the last summary.
    pub total: u64,
    /// The reason for the entry, e.g. `12 refused requests from 10.0.0.9 ...`.
    pub text: String,
}

/// The refusal counters of one server.
#[derive(Debug)]
pub struct Refusals {
    limits: RefusalLimits,
    sources: Mutex<HashMap<IpAddr, Source>>,
    /// The budget of all addresses together: tokens and when they were last refilled.
    all: Mutex<(f64, Instant)>,
    known: Mutex<Known>,
    /// Where the known digests are kept across restarts, if anywhere.
    file: Option<PathBuf>,
}

/// The known digests, and the stamp of the file when it was last read.
#[derive(Debug, Default)]
struct Known {
    digests: HashSet<TokenDigest>,
    read: Stamp,
    /// Digests that were known and stopped authenticating, with when each may next pass
    /// as known (kept in memory only, at most [`MOST`]).
    lapsed: HashMap<TokenDigest, Instant>,
}

/// The key an address is counted under: IPv4 as is, but every loopback address as one
/// (127.0.0.0/8 is one host's), IPv6 by its /64 (one host often has a whole /64), and
/// everything beyond [`MAX_SOURCES`] under the unspecified address.
pub(super) fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => key(IpAddr::V4(v4)),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

impl Refusals {
    /// Counters under `limits`.
    pub fn new(limits: RefusalLimits) -> Self {
        Refusals {
            limits,
            sources: Mutex::new(HashMap::new()),
            all: Mutex::new((f64::from(limits.burst_all), Instant::now())),
            known: Mutex::new(Known::default()),
            file: None,
        }
    }

    /// The same, remembering known tokens in `file` across restarts: the digests already
    /// there are read now, and again whenever the file has changed (a missing file is an
    /// empty one; lines that are not a digest are skipped).
    pub fn kept_in(mut self, file: PathBuf) -> Self {
        if let Err(e) = crate::datadir::secure_file(&file) {
            eprintln!("maas: cannot make {} private: {e}", file.display());
        }
        self.file = Some(file);
        if let Ok(mut known) = self.known.lock() {
            self.refresh(&mut known);
        }
        self
    }

    /// Adds the digests of the file when it changed since it was last read (another
    /// process noted a token it issued); beyond [`MOST`] the set is the file's last
    /// digests.
    fn refresh(&self, known: &mut Known) {
        let Some(file) = &self.file else { return };
        let stamp = Stamp::of(file);
        if stamp == known.read {
            return;
        }
        let digests = known_tokens::read_last(file, MOST);
        if known.digests.len() + digests.len() > MOST {
            known.digests.clear();
        }
        known.digests.extend(digests);
        known.read = stamp;
    }

    /// Writes the whole set (after a digest was dropped); failures are reported, not
    /// fatal: the set in memory is what counts while the server runs.
    fn rewrite(&self, known: &HashSet<TokenDigest>) {
        if let Some(file) = &self.file
            && let Err(e) = known_tokens::rewrite(file, known)
        {
            eprintln!("maas: cannot rewrite {}: {e}", file.display());
        }
    }

    fn append(&self, d: &TokenDigest) {
        if let Some(file) = &self.file
            && let Err(e) = known_tokens::append(file, d)
        {
            eprintln!("maas: cannot write {}: {e}", file.display());
        }
    }

    /// How often [`Refusals::take_summaries`] should run.
    pub fn audit_interval(&self) -> Duration {
        self.limits.audit_interval
    }

    fn refill(&self, source: &mut Source) {
        let l = &self.limits;
        bucket(
            &mut source.tokens,
            &mut source.refilled,
            l.burst,
            l.per_minute,
            false,
        );
    }

    /// Whether all addresses together have refusals left; `take` takes one.
    fn all_within(&self, take: bool) -> bool {
        let Ok(mut all) = self.all.lock() else {
            return false;
        };
        let (tokens, refilled) = &mut *all;
        let l = &self.limits;
        bucket(tokens, refilled, l.burst_all, l.per_minute_all, take)
    }

    /// Whether `ip` has used up its refusals, or all addresses together have theirs and
    /// `ip` was refused meanwhile: its requests are answered 429 unless they prove
    /// themselves cheaply.
    #[cfg(test)]
    pub fn exhausted(&self, ip: IpAddr) -> bool {
        let Ok(mut sources) = self.sources.lock() else {
            return false;
        };
        // Past the table's size an address is counted in the shared bucket (as
        // `refuse` counts it), not let through as one never refused.
        let k = Self::key_in(&sources, ip);
        match sources.get_mut(&k) {
            Some(source) => {
                self.refill(source);
                source.tokens < 1.0 || !self.all_within(false)
            }
            None => false,
        }
    }

    /// Counts a refusal of a request from `ip`. False when `ip` is beyond its budget
    /// (the request is then answered 429 whatever the reason) or `reason` is
    /// [`Reason::RateLimited`], which only counts.
    pub fn refuse(&self, ip: IpAddr, reason: Reason) -> bool {
        self.take(ip, reason, true)
    }

    /// Takes one of `ip`'s refusals (and one of all addresses') before its token goes to
    /// the core, in one step with the check, so that requests arriving together cannot
    /// all pass a check of a budget none has spent yet; false when there is none (the
    /// request is answered 429). Not counted as a refusal: see [`Refusals::count`] and
    /// [`Refusals::refund`].
    pub fn reserve(&self, ip: IpAddr) -> bool {
        self.take(ip, Reason::BadToken, false)
    }

    /// Gives back what [`Refusals::reserve`] took: the token was good, or the core could
    /// not tell.
    pub fn refund(&self, ip: IpAddr) {
        if let Ok(mut sources) = self.sources.lock() {
            let k = Self::key_in(&sources, ip);
            if let Some(source) = sources.get_mut(&k) {
                source.tokens = (source.tokens + 1.0).min(f64::from(self.limits.burst));
                source.checking = source.checking.saturating_sub(1);
            }
        }
        if let Ok(mut all) = self.all.lock() {
            all.0 = (all.0 + 1.0).min(f64::from(self.limits.burst_all));
        }
    }

    /// Counts a refusal whose budget [`Refusals::reserve`] took already.
    pub fn count(&self, ip: IpAddr, reason: Reason) {
        if let Ok(mut sources) = self.sources.lock() {
            let k = Self::key_in(&sources, ip);
            if let Some(source) = sources.get_mut(&k) {
                *source.pending.entry(reason).or_insert(0) += 1;
                source.checking = source.checking.saturating_sub(1);
            }
        }
    }

    /// Whether tokens of `ip` are being checked: a refusal they reserved may come back
    /// (a burst of good tokens from one address, agents starting together, waits for
    /// them rather than being refused).
    pub fn checking(&self, ip: IpAddr) -> bool {
        self.sources.lock().is_ok_and(|sources| {
            let k = Self::key_in(&sources, ip);
            sources.get(&k).is_some_and(|s| s.checking > 0)
        })
    }

    /// The key `ip` is counted under in `sources`: [`key`], or past [`MAX_SOURCES`] the
    /// shared one.
    fn key_in(sources: &HashMap<IpAddr, Source>, ip: IpAddr) -> IpAddr {
        let k = key(ip);
        if !sources.contains_key(&k) && sources.len() >= MAX_SOURCES {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            k
        }
    }

    /// Takes one refusal of `ip`'s budget for `reason`, counting it when `note`.
    fn take(&self, ip: IpAddr, reason: Reason, note: bool) -> bool {
        let Ok(mut sources) = self.sources.lock() else {
            return false;
        };
        let now = Instant::now();
        let k = Self::key_in(&sources, ip);
        let burst = f64::from(self.limits.burst);
        let fresh = !sources.contains_key(&k);
        let source = sources.entry(k).or_insert_with(|| Source {
            tokens: burst,
            refilled: now,
            pending: BTreeMap::new(),
            checking: 0,
        });
        self.refill(source);
        // Whatever the address, a refusal within its budget spends the budget of all;
        // an address seen for the first time since its budget was full passes anyway.
        let within = reason != Reason::RateLimited
            && source.tokens >= 1.0
            && (self.all_within(true) || fresh);
        let counted = if within {
            source.tokens -= 1.0;
            reason
        } else {
            Reason::RateLimited
        };
        // A reservation counts nothing: what it ends in is counted (`count`, or the
        // caller's `refuse` of a request it could not reserve for).
        if note {
            *source.pending.entry(counted).or_insert(0) += 1;
        }
        if within && !note {
            source.checking += 1;
        }
        within
    }

    /// Remembers that `token` authenticated (the gate hashes each token once and calls
    /// [`Refusals::remember_digest`]).
    #[cfg(test)]
    pub fn remember(&self, token: &str) {
        if let Some(d) = digest(token) {
            self.remember_digest(&d);
        }
    }

    /// Remembers that the token of digest `d` authenticated.
    pub fn remember_digest(&self, d: &TokenDigest) {
        if let Ok(mut known) = self.known.lock() {
            if known.digests.contains(d) {
                return;
            }
            // Beyond MOST the set starts over; the file keeps its last MOST digests.
            if known.digests.len() >= MOST {
                known.digests.clear();
            }
            known.digests.insert(*d);
            known.lapsed.remove(d);
            self.append(d);
        }
    }

    /// Forgets `token` (it no longer authenticates), here and in the file.
    pub fn forget(&self, token: &str) {
        if let Some(d) = digest(token) {
            self.forget_digest(&d);
        }
    }

    /// Forgets the token of digest `d` (the sweep found it revoked), here and in the file;
    /// it may pass as known again once every [`RefusalLimits::lapsed_retry`].
    pub fn forget_digest(&self, d: &TokenDigest) {
        if let Ok(mut known) = self.known.lock() {
            self.refresh(&mut known);
            let was_known = known.digests.remove(d);
            if was_known {
                self.rewrite(&known.digests);
            }
            // Only a token that was known lapses: a stranger's bad token refused at the
            // door must never pass as known.
            if !was_known && !known.lapsed.contains_key(d) {
                return;
            }
            if known.lapsed.len() >= MOST && !known.lapsed.contains_key(d) {
                known.lapsed.clear();
            }
            let next = Instant::now() + self.limits.lapsed_retry;
            known.lapsed.insert(*d, next);
        }
    }

    /// Whether `token` authenticated before or was issued by a process that noted it in
    /// the file; or, once every [`RefusalLimits::lapsed_retry`], whether it was known and
    /// stopped authenticating (it is asked again: a reactivated agent's comes back).
    pub fn known(&self, token: &str) -> bool {
        let (Some(d), Ok(mut known)) = (digest(token), self.known.lock()) else {
            return false;
        };
        if !known.digests.contains(&d) {
            self.refresh(&mut known);
        }
        if known.digests.contains(&d) {
            return true;
        }
        let now = Instant::now();
        let retry = self.limits.lapsed_retry;
        match known.lapsed.get_mut(&d) {
            Some(next) if *next <= now => {
                *next = now + retry;
                true
            }
            _ => false,
        }
    }

    /// The refusals counted since the last call: one summary for each of the
    /// [`MAX_SUMMARIES`] source addresses refused most, one for all the others together;
    /// and forgets addresses with nothing pending and a full bucket.
    pub fn take_summaries(&self) -> Vec<Summary> {
        let Ok(mut sources) = self.sources.lock() else {
            return Vec::new();
        };
        let mut pending: Vec<(u64, IpAddr, BTreeMap<Reason, u64>)> = sources
            .iter_mut()
            .filter_map(|(ip, source)| {
                let pending = std::mem::take(&mut source.pending);
                let total: u64 = pending.values().sum();
                (total > 0).then_some((total, *ip, pending))
            })
            .collect();
        // The addresses whose refusals reached the core (bad tokens: guesses) first, then
        // by how many: decoys refused at the door cannot push a guesser out of the names.
        let guessed = |r: &BTreeMap<Reason, u64>| r.get(&Reason::BadToken).copied().unwrap_or(0);
        pending.sort_by(|a, b| {
            guessed(&b.2)
                .cmp(&guessed(&a.2))
                .then(b.0.cmp(&a.0))
                .then(a.1.cmp(&b.1))
        });
        let others = pending.split_off(pending.len().min(MAX_SUMMARIES));
        let mut out: Vec<Summary> = pending
            .into_iter()
            .map(|(total, ip, reasons)| Summary {
                source: ip,
                total,
                text: format!(
                    "{total} refused HTTP {} from {ip} before reaching the core: {}",
                    noun(total),
                    labels(&reasons)
                ),
            })
            .collect();
        if !others.is_empty() {
            let total: u64 = others.iter().map(|o| o.0).sum();
            let mut reasons = BTreeMap::new();
            for (_, _, r) in &others {
                for (reason, n) in r {
                    *reasons.entry(*reason).or_insert(0) += n;
                }
            }
            out.push(Summary {
                source: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                total,
                text: format!(
                    "{total} refused HTTP {} from {} other addresses before reaching the core: {}",
                    noun(total),
                    others.len(),
                    labels(&reasons)
                ),
            });
        }
        let burst = f64::from(self.limits.burst);
        sources.retain(|_, source| {
            self.refill(source);
            !source.pending.is_empty() || source.tokens < burst || source.checking > 0
        });
        out
    }
}

/// "request" or "requests".
fn noun(total: u64) -> &'static str {
    if total == 1 { "request" } else { "requests" }
}

/// The reasons and their counts, e.g. `invalid token 3, rate limited 2`.
fn labels(reasons: &BTreeMap<Reason, u64>) -> String {
    reasons
        .iter()
        .map(|(reason, n)| format!("{} {n}", reason.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u32) -> RefusalLimits {
        RefusalLimits {
            burst,
            per_minute: 0,
            audit_interval: Duration::from_secs(60),
            ..RefusalLimits::default()
        }
    }

    /// A flood from many addresses (every loopback address, or a network's) neither
    /// gets a budget per address nor a journal entry per address.
    #[test]
    fn many_addresses_share_one_budget_and_a_bounded_number_of_entries() {
        let r = Refusals::new(RefusalLimits {
            burst: 2,
            per_minute: 0,
            burst_all: 50,
            per_minute_all: 0,
            ..RefusalLimits::default()
        });
        let ip = |s: &str| {
            s.parse::<IpAddr>()
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
        };
        // 127.0.0.0/8 is one host: three loopback addresses, one budget of 2.
        let local: Vec<bool> = ["127.0.0.1", "127.0.0.2", "127.9.9.9"]
            .iter()
            .map(|a| r.refuse(ip(a), Reason::MissingToken))
            .collect();
        assert_eq!(local, [true, true, false]);
        assert!(r.exhausted(ip("127.3.3.3")));
        assert!(r.exhausted(ip("::ffff:127.0.0.5")));
        // 200 addresses of a network, twice each: the budget of all (50, two spent) runs
        // out; each address still has its first refusal checked, none its second.
        let round = || {
            (0..200)
                .filter(|i| {
                    r.refuse(
                        ip(&format!("10.0.{}.{}", i / 250, i % 250 + 1)),
                        Reason::BadToken,
                    )
                })
                .count()
        };
        assert_eq!((round(), round()), (200, 0));
        assert!(r.exhausted(ip("10.0.0.7")), "an address refused meanwhile");
        assert!(
            !r.exhausted(ip("192.0.2.1")),
            "a new address still gets a token checked"
        );
        let summaries = r.take_summaries();
        assert_eq!(summaries.len(), MAX_SUMMARIES + 1);
        let rest = summaries.last().map(|s| s.text.clone()).unwrap_or_default();
        assert!(rest.contains("other addresses"), "{rest}");
        let total: u64 = summaries.iter().map(|s| s.total).sum();
        assert_eq!(total, 403, "every refusal counted once");
        // Decoys refused at the door, many times each, do not hide a guesser.
        for d in 0..MAX_SUMMARIES {
            for _ in 0..20 {
                r.refuse(ip(&format!("10.1.0.{}", d + 1)), Reason::MissingToken);
            }
        }
        r.refuse(ip("10.2.0.1"), Reason::BadToken);
        let named = r.take_summaries();
        assert!(
            named.iter().any(|s| s.source == ip("10.2.0.1")),
            "{named:?}"
        );
    }

    /// Tokens sent together each take their refusal before the core is asked: no more
    /// reach it than the budget; a good one gives its refusal back.
    #[test]
    fn a_token_takes_its_refusal_before_the_core_and_a_good_one_gives_it_back() {
        let r = Refusals::new(limits(3));
        let a = IpAddr::V4(std::net::Ipv4Addr::new(10, 9, 9, 9));
        let taken: Vec<bool> = (0..5).map(|_| r.reserve(a)).collect();
        assert_eq!(taken, [true, true, true, false, false]);
        r.refund(a);
        assert!(r.reserve(a), "a good token's refusal came back");
        r.count(a, Reason::BadToken);
        let summaries = r.take_summaries();
        let text = summaries
            .first()
            .map(|s| s.text.clone())
            .unwrap_or_default();
        // A reservation counts nothing; what it ended in does.
        assert!(
            text.starts_with("1 refused") && text.contains("invalid token 1"),
            "{text}"
        );
        assert!(r.checking(a), "two reservations still out");
        r.refund(a);
        r.refund(a);
        assert!(!r.checking(a), "every reservation resolved");
    }

    /// Past the table's size, addresses share one bucket: a new one is limited too, not
    /// let through as never refused.
    #[test]
    fn past_the_table_new_addresses_share_one_limited_bucket() {
        let r = Refusals::new(limits(2));
        if let Ok(mut sources) = r.sources.lock() {
            for i in 0..MAX_SOURCES as u32 {
                sources.insert(
                    IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)),
                    Source {
                        tokens: 2.0,
                        refilled: Instant::now(),
                        pending: BTreeMap::new(),
                        checking: 0,
                    },
                );
            }
        }
        let late: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        let within: Vec<bool> = (0..3).map(|_| r.refuse(late, Reason::BadToken)).collect();
        assert_eq!(within, [true, true, false]);
        assert!(r.exhausted(late));
        assert!(r.exhausted(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2))));
    }

    #[test]
    fn a_source_beyond_its_burst_is_rate_limited_and_summarised_once() {
        let r = Refusals::new(limits(3));
        let a: IpAddr = "10.0.0.9"
            .parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let b: IpAddr = "10.0.0.10"
            .parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        assert!(!r.exhausted(a));
        let within: Vec<bool> = (0..5).map(|_| r.refuse(a, Reason::BadToken)).collect();
        assert_eq!(within, [true, true, true, false, false]);
        assert!(r.exhausted(a));
        assert!(!r.exhausted(b), "other addresses keep their budget");
        assert!(r.refuse(b, Reason::Origin));
        let mut summaries = r.take_summaries();
        summaries.sort_by_key(|s| s.source);
        assert_eq!(summaries.len(), 2);
        assert_eq!(summaries.first().map(|s| s.total), Some(5));
        let text = summaries
            .first()
            .map(|s| s.text.clone())
            .unwrap_or_default();
        assert!(
            text.starts_with("5 refused HTTP requests from 10.0.0.9"),
            "{text}"
        );
        assert!(
            text.contains("invalid token 3") && text.contains("rate limited 2"),
            "{text}"
        );
        assert!(
            r.take_summaries().is_empty(),
            "each refusal is reported once"
        );
        assert!(r.exhausted(a), "the bucket is kept while it is not full");
    }

    #[test]
    fn ipv6_sources_count_by_their_64_and_known_tokens_are_remembered() {
        let r = Refusals::new(limits(1));
        let one: IpAddr = "2001:db8::1"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let two: IpAddr = "2001:db8::2"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert!(r.refuse(one, Reason::MissingToken));
        assert!(r.exhausted(two));
        assert!(!r.known("maas_a"));
        r.remember("maas_a");
        assert!(r.known("maas_a"));
        r.forget("maas_a");
        assert!(!r.known("maas_a"));
        assert!(!r.known(&"x".repeat(known_tokens::MAX_TOKEN + 1)));
    }

    /// A token forgotten when its agent was deactivated came back on reactivation
    /// unknown, and waited out its address's budget (a minute under another client's
    /// flood). It now passes as known once every `lapsed_retry`, to be asked again;
    /// authenticated again, it is known for good.
    #[test]
    fn a_token_that_stopped_authenticating_is_asked_again_now_and_then() {
        let r = Refusals::new(RefusalLimits {
            lapsed_retry: Duration::from_millis(200),
            ..limits(1)
        });
        r.remember("maas_paused");
        r.forget("maas_paused");
        // A stranger's bad token is forgotten at the door too, never having been known.
        r.forget("maas_stranger");
        assert!(!r.known("maas_paused"), "not at once");
        assert!(!r.known("maas_stranger"));
        std::thread::sleep(Duration::from_millis(250));
        assert!(r.known("maas_paused"), "once the retry has passed");
        assert!(!r.known("maas_paused"), "once a retry");
        assert!(!r.known("maas_stranger"), "never a token it never knew");
        // Still refused when asked: forgotten again, it waits another retry.
        r.forget("maas_paused");
        std::thread::sleep(Duration::from_millis(250));
        assert!(r.known("maas_paused"));
        // It authenticated (the agent was reactivated): known for good.
        r.remember("maas_paused");
        assert!(r.known("maas_paused") && r.known("maas_paused"));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn known_tokens_outlive_a_restart_and_a_dropped_one_is_gone_from_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("maas-known-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("http-known-tokens");
        std::fs::write(&file, "not a digest\n").unwrap();
        let first = Refusals::new(limits(1)).kept_in(file.clone());
        first.remember("maas_worker");
        first.remember("maas_worker");
        first.remember("maas_revoked");
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 3, "one line per new digest: {text}");
        assert!(!text.contains("maas_"), "digests only: {text}");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let restarted = Refusals::new(limits(1)).kept_in(file.clone());
        assert!(restarted.known("maas_worker") && restarted.known("maas_revoked"));
        assert!(!restarted.known("maas_never_seen"));
        restarted.forget("maas_revoked");
        let again = Refusals::new(limits(1)).kept_in(file.clone());
        assert!(again.known("maas_worker"));
        assert!(!again.known("maas_revoked"));
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_token_another_process_notes_is_known_without_a_restart() {
        let dir = std::env::temp_dir().join(format!("maas-noted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("http-known-tokens");
        let _ = std::fs::remove_file(&file);
        let r = Refusals::new(limits(1)).kept_in(file.clone());
        r.remember("maas_worker");
        assert!(!r.known("maas_new"));
        known_tokens::note(&file, "maas_new").unwrap();
        assert!(r.known("maas_new"), "the changed file is read again");
        assert!(r.known("maas_worker"));

        // Dropping a digest keeps what another process noted meanwhile.
        known_tokens::note(&file, "maas_third").unwrap();
        r.forget("maas_worker");
        let again = Refusals::new(limits(1)).kept_in(file.clone());
        assert!(again.known("maas_new") && again.known("maas_third"));
        assert!(!again.known("maas_worker"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
