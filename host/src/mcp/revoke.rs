//! What a token holds open beyond one request — change-feed streams,
//! `subscriptions/listen` streams, `wait_for_changes` calls — ended when the token stops
//! authenticating (its agent deactivated or unregistered, or the token rotated; the
//! operator's token replaced in its file).
//!
//! Each holder registers under its token's digest and waits on a signal the digest's
//! holders share; `maas serve`'s sweep asks the core which digests are revoked
//! (`admin.revoked-tokens`) and calls [`Revocations::revoke`] for them. MCP sessions are
//! closed by the same sweep through their own records (`http/sessions.rs`).
//!
//! A request is also checked when it runs, not only when its headers arrive: its
//! [`Recheck`] binds the core handle it uses, so each core call first asks, in the same
//! job, whether its token still authenticates. A request whose body comes after a
//! rotation, or that waited behind one on the core thread, is refused.

use crate::known_tokens::TokenDigest;
use crate::service::CoreService;
use crate::types;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use tokio_util::sync::CancellationToken;

/// Which of `hashes` (SHA-256 hex of tokens) no longer authenticate, asked of the core
/// as the operator (`admin.revoked-tokens`, in chunks of its bound): one catch-up with
/// the journal and a lookup per hash; nothing is written.
pub async fn revoked_of(
    core: &CoreService,
    hashes: Vec<String>,
) -> Result<Vec<String>, types::Error> {
    core.call(move |rt| revoked_among(rt, &hashes)).await
}

/// [`revoked_of`] on the core thread, in the job that asks.
fn revoked_among(
    rt: &mut crate::runtime::Runtime,
    hashes: &[String],
) -> Result<Vec<String>, types::Error> {
    let mut revoked = Vec::new();
    for chunk in hashes.chunks(maas_core::core::MAX_TOKEN_HASHES) {
        let found = rt.call(|c, s| {
            c.maas_core_admin()
                .call_revoked_tokens(s, &types::Caller::Operator, chunk)
        })?;
        revoked.extend(found);
    }
    Ok(revoked)
}

/// Whether the token of digest `digest` still authenticates, asked in the job it guards.
fn still_authenticates(
    rt: &mut crate::runtime::Runtime,
    digest: &TokenDigest,
    late: Option<&str>,
) -> Result<(), types::Error> {
    let revoked = revoked_among(rt, &[maas_core::audit::hex(digest)])?;
    if !revoked.is_empty() {
        // Ended by another process, or since the door let it in: the server asks again
        // about the tokens it remembers.
        rt.note_token_ended();
    }
    match (revoked.is_empty(), late) {
        (true, _) => Ok(()),
        (false, Some(agent)) => Err(refused_late(rt, &types::Caller::Agent(agent.to_string()))),
        (false, None) => Err(crate::mcp::revoked()),
    }
}

/// Audits a request refused as it ran because its token stopped authenticating after
/// the door let it in (a body sent late, a turn behind the rotation), and returns its
/// error. Such requests are few (at most an agent's share in flight when it happened),
/// and they are what an owner whose token was stolen wants to see.
fn refused_late(rt: &mut crate::runtime::Runtime, caller: &types::Caller) -> types::Error {
    let _ = rt.call(|c, s| {
        c.maas_core_audit().call_deny(
            s,
            caller,
            "request",
            None,
            "its token stopped authenticating (rotated, or the agent deactivated or \
             unregistered) after the request arrived and before it ran",
        )
    });
    crate::mcp::revoked()
}

/// The operator token a server accepts now, replaced when its file changes.
pub struct OperatorToken(RwLock<String>);

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorToken(..)")
    }
}

impl OperatorToken {
    /// Holding `token`.
    pub fn new(token: String) -> Self {
        OperatorToken(RwLock::new(token))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, String> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `token` is the operator token now (compared in constant time).
    pub fn is(&self, token: &str) -> bool {
        crate::operator::same_token(token, &self.read())
    }

    /// The digest of the operator token now.
    pub fn digest(&self) -> Option<TokenDigest> {
        crate::known_tokens::digest(&self.read())
    }

    /// Takes `token`; whether it differs from the one held.
    pub fn replace(&self, token: String) -> bool {
        let mut current = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = !crate::operator::same_token(&token, &current);
        if changed {
            *current = token;
        }
        changed
    }
}

/// The lane of the core calls made with an agent token (see
/// [`CoreService::in_lane`]): the first eight bytes of its digest, away from the
/// operator's and the host's lanes (1 and 0) and from the quick lane.
fn lane_of(digest: &TokenDigest) -> u64 {
    let mut first = [0u8; 8];
    if let Some(bytes) = digest.get(..8) {
        first.copy_from_slice(bytes);
    }
    u64::from_le_bytes(first).clamp(2, crate::service::QUICK_LANE - 1)
}

/// The lane of the calls of an owner's agents: a hash of the owner's id, away from the
/// operator's and the host's lanes and from the quick lane. (Owner ids are given by the
/// operator, so no caller picks a hash to share another owner's lane.)
fn owner_lane(owner: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    ("owner", owner).hash(&mut hasher);
    hasher.finish().clamp(2, crate::service::QUICK_LANE - 1)
}

/// How a request's token is checked again when each of its core calls runs; set by the
/// HTTP gate beside the principal, and by `maas mcp` for its own token.
#[derive(Debug, Clone)]
pub enum Recheck {
    /// No token to check (`--insecure-loopback`'s operator, a stdio operator).
    Nothing,
    /// An agent's token, by digest, the agent, and the lane its calls take their turns
    /// in (see [`Recheck::agent`], [`Recheck::in_owners_lane`]): the core is asked
    /// (`admin.revoked-tokens`, one catch-up and a lookup) before each call.
    Agent(TokenDigest, String, u64),
    /// The operator's token, by digest: it must still be the server's operator token.
    Operator(TokenDigest, Arc<OperatorToken>),
}

impl Recheck {
    /// An agent's token, its calls in a lane of the token's own until the agent's owner
    /// is known.
    pub fn agent(digest: TokenDigest, agent: String) -> Recheck {
        Recheck::Agent(digest, agent, lane_of(&digest))
    }

    /// The same check, an agent's calls taking their turns in the lane of its owner,
    /// shared by all that owner's agents: fair turns are between owners, so an owner's
    /// many agents (a feed stream each replaying an old cursor, 13 ms a page) hold back
    /// another owner's call by one job, not one job per agent. Within the lane each
    /// token keeps a place of its own ([`Recheck::at`]): the owner's agents take turns.
    pub fn in_owners_lane(self, owner: &str) -> Recheck {
        match self {
            Recheck::Agent(digest, agent, _) => Recheck::Agent(digest, agent, owner_lane(owner)),
            other => other,
        }
    }

    /// `core`, its calls checked first; a call refused is audited (a request let in
    /// before its token was revoked).
    pub fn bind(&self, core: &CoreService) -> CoreService {
        self.bound(core, true)
    }

    /// `core`, its calls checked first without auditing a refusal: for the reads of
    /// what a request keeps open (waits, listen and feed streams, subscription
    /// followers), which a rotation wakes and ends as a matter of course.
    pub fn bind_quiet(&self, core: &CoreService) -> CoreService {
        self.bound(core, false)
    }

    /// The lane the calls take their turns in on the core thread: an agent's owner's
    /// (or, until the owner is known, its token's: [`lane_of`]), the operator's 1, and
    /// calls without a token the host's own, 0.
    pub fn lane(&self) -> u64 {
        match self {
            Recheck::Nothing => 0,
            Recheck::Operator(..) => 1,
            Recheck::Agent(_, _, lane) => *lane,
        }
    }

    /// Where the calls take their turns: in [`Recheck::lane`] and, within an owner's
    /// lane, at the place of the agent's token, so the owner's agents take turns too.
    pub fn at(&self) -> crate::service::Lane {
        let place = match self {
            Recheck::Agent(digest, ..) => lane_of(digest),
            _ => 0,
        };
        crate::service::Lane {
            lane: self.lane(),
            place,
        }
    }

    fn bound(&self, core: &CoreService, audited: bool) -> CoreService {
        let core = core.at(self.at());
        match self.clone() {
            Recheck::Nothing => core,
            Recheck::Agent(digest, agent, _) => {
                core.reading_as(digest).checked(Arc::new(move |rt| {
                    still_authenticates(rt, &digest, audited.then_some(agent.as_str()))
                }))
            }
            Recheck::Operator(digest, now) => {
                core.reading_as(digest).checked(Arc::new(move |rt| {
                    if now.digest() == Some(digest) {
                        Ok(())
                    } else if audited {
                        Err(refused_late(rt, &types::Caller::Operator))
                    } else {
                        Err(crate::mcp::revoked())
                    }
                }))
            }
        }
    }
}

/// The digest of the token a request authenticated with (an agent's or the operator's;
/// none without one, as with `--insecure-loopback`), set by the HTTP gate beside the
/// principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bearer(pub Option<TokenDigest>);

/// The holders of each token, with the signal that ends them.
#[derive(Debug, Default)]
pub struct Revocations {
    by_token: Mutex<HashMap<TokenDigest, (usize, CancellationToken)>>,
}

impl Revocations {
    fn lock(&self) -> MutexGuard<'_, HashMap<TokenDigest, (usize, CancellationToken)>> {
        // Each change is one insert, update or remove: a poisoned table is whole.
        self.by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers one holder of `token` until the returned [`Held`] is dropped. Without a
    /// token (the operator of an `--insecure-loopback` server, without one) nothing is
    /// registered and the signal never fires.
    pub fn hold(self: &Arc<Self>, token: Bearer) -> Held {
        let Some(digest) = token.0 else {
            return Held::unrevocable();
        };
        let mut by_token = self.lock();
        let (n, revoked) = by_token.entry(digest).or_default();
        *n += 1;
        Held {
            revocations: Some(self.clone()),
            token: Some(digest),
            revoked: revoked.clone(),
        }
    }

    /// The tokens holding something open.
    pub fn tokens(&self) -> Vec<TokenDigest> {
        self.lock().keys().copied().collect()
    }

    /// Ends everything `token` holds: it no longer authenticates.
    pub fn revoke(&self, token: &TokenDigest) {
        if let Some((_, revoked)) = self.lock().remove(token) {
            revoked.cancel();
        }
    }
}

/// One holder's registration; fires [`Held::revoked`] when its token is revoked.
#[derive(Debug)]
pub struct Held {
    revocations: Option<Arc<Revocations>>,
    token: Option<TokenDigest>,
    revoked: CancellationToken,
}

impl Held {
    /// A registration whose signal never fires (the operator, stdio).
    pub fn unrevocable() -> Held {
        Held {
            revocations: None,
            token: None,
            revoked: CancellationToken::new(),
        }
    }

    /// Cancelled when the token is revoked.
    pub fn revoked(&self) -> &CancellationToken {
        &self.revoked
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let (Some(revocations), Some(token)) = (&self.revocations, self.token) else {
            return;
        };
        let mut by_token = revocations.lock();
        // Asked under the lock `revoke` cancels under: a revoked token's entry is gone
        // already, or belongs to holders registered since, which count themselves.
        if self.revoked.is_cancelled() {
            return;
        }
        if let Some((n, _)) = by_token.get_mut(&token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_token.remove(&token);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn an_owners_agents_take_their_turns_in_one_lane_and_other_owners_in_others() {
        let agent = |n: u8, id: &str| Recheck::agent([n; 32], id.into());
        let mallory: Vec<u64> = (0..16)
            .map(|n| agent(n, &format!("m{n}")).in_owners_lane("mallory").lane())
            .collect();
        assert!(mallory.iter().all(|l| *l == mallory[0]), "{mallory:?}");
        let acme = agent(99, "a1").in_owners_lane("acme").lane();
        assert_ne!(acme, mallory[0]);
        // Until the owner is known, each token has its own; neither is a reserved lane.
        assert_ne!(agent(1, "m1").lane(), agent(2, "m2").lane());
        for lane in [acme, mallory[0], agent(0, "x").lane()] {
            assert!(lane > 1 && lane < crate::service::QUICK_LANE, "{lane}");
        }
        // The operator's check keeps its lane.
        assert_eq!(Recheck::Nothing.in_owners_lane("acme").lane(), 0);
        // Within the owner's lane, each token has a place of its own.
        let places: std::collections::HashSet<u64> = (0..16)
            .map(|n| {
                agent(n, &format!("m{n}"))
                    .in_owners_lane("mallory")
                    .at()
                    .place
            })
            .collect();
        assert_eq!(places.len(), 16);
        let one = agent(3, "m3").in_owners_lane("mallory").at();
        assert_eq!(
            (one.lane, one.place),
            (mallory[0], agent(3, "m3").at().place)
        );
    }

    #[test]
    fn revoking_a_token_ends_its_holders_only_and_forgets_it() {
        let revocations = Arc::new(Revocations::default());
        let (old, new) = (Bearer(Some([1; 32])), Bearer(Some([2; 32])));
        let h1 = revocations.hold(old);
        let h2 = revocations.hold(old);
        let h3 = revocations.hold(new);
        let operator = revocations.hold(Bearer(None));
        let mut held = revocations.tokens();
        held.sort_unstable();
        assert_eq!(held, vec![[1; 32], [2; 32]]);
        revocations.revoke(&[1; 32]);
        let ended = |h: &Held| h.revoked().is_cancelled();
        assert_eq!(
            (ended(&h1), ended(&h2), ended(&h3), ended(&operator)),
            (true, true, false, false)
        );
        assert_eq!(revocations.tokens(), vec![[2; 32]]);
        // A holder of the revoked token registered after the revocation counts alone.
        let late = revocations.hold(old);
        drop((h1, h2));
        assert_eq!(revocations.lock()[&[1; 32]].0, 1);
        drop(late);
        drop(h3);
        assert!(revocations.tokens().is_empty());
    }
}
