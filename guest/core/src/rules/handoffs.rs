//! Handoffs: initiate, the lifecycle by the right party only, expiry, grants.

use super::*;
use crate::handoffs;
use crate::model::HandoffStatus;
use crate::page::PageRequest;
use AgentType::{ClaudeCode, CustomPipeline};
use Permission::{Read, Write};
use Scope::Project;

/// Owner `u1`: `src`, `dst`, `third` (claude code), `pipe` (custom pipeline, cannot
/// receive). Owner `u2`: `far`. Pool `p` of `u1`: `src` and `third` members.
/// `mine` is src's memory; `theirs` is third's, shared into `p` (src reads it).
fn world() -> Given {
    given()
        .agent("src", "u1", ClaudeCode)
        .agent("dst", "u1", ClaudeCode)
        .agent("third", "u1", ClaudeCode)
        .agent("pipe", "u1", CustomPipeline)
        .agent("far", "u2", ClaudeCode)
        .pool("p", "u1", Project)
        .member("p", "src", Read)
        .member("p", "third", Write)
        .memory("mine", "src")
        .memory("theirs", "third")
        .shared("p", "theirs", "third", Project)
}

/// `world` with handoff `h` from src to dst referencing `mine`, pending.
fn pending() -> Given {
    world().handoff("h", "src", "dst", &["mine"])
}

fn initiate(target: &str, memories: &[&str]) -> impl FnOnce(&State, &mut Cx) -> Decided<String> {
    let target = target.to_string();
    let context = ev::context("take over", memories);
    move |s, cx| handoffs::initiate(s, cx, "src", &target, &context, None)
}

// ---- initiating ----

#[test]
fn initiating_records_a_pending_handoff_for_an_hour() {
    world()
        .when(agent("src"), initiate("dst", &["mine"]))
        .then_audited("handoff.initiated")
        .then_events_where(|events| match events {
            [
                Event::HandoffInitiated {
                    source,
                    target,
                    context,
                    expires_at,
                    ..
                },
            ] => {
                assert_eq!((source.as_str(), target.as_str()), ("src", "dst"));
                assert_eq!(context.relevant_memories, ["mine"]);
                assert_eq!(*expires_at, T0 + 3_600_000);
            }
            other => panic!("unexpected {other:?}"),
        })
        .then_state(|s| assert_eq!(s.pending_for("dst", T0).len(), 1));
}

#[test]
fn initiating_needs_handoff_initiate_and_a_target_that_receives() {
    world()
        .when(agent("pipe"), |s, cx| {
            handoffs::initiate(s, cx, "pipe", "dst", &ev::context("t", &[]), None)
        })
        .then_denied();
    world()
        .when(agent("src"), initiate("pipe", &[]))
        .then_denied();
}

#[test]
fn an_agent_initiates_as_itself_only() {
    world()
        .when(agent("third"), initiate("dst", &[]))
        .then_denied();
}

#[test]
fn initiate_refuses_itself_unknown_and_inactive_targets() {
    world()
        .when(agent("src"), initiate("src", &[]))
        .then_invalid("target_agent_id");
    world()
        .when(agent("src"), initiate("ghost", &[]))
        .then_not_found();
    world()
        .deactivated("dst")
        .when(agent("src"), initiate("dst", &[]))
        .then_invalid("target_agent_id");
    // Another owner's deactivated agent answers as a missing one.
    world()
        .deactivated("src")
        .when(agent("far"), |s, cx| {
            handoffs::initiate(s, cx, "far", "src", &ev::context("t", &[]), None)
        })
        .then_not_found();
}

#[test]
fn a_handoff_references_only_memories_the_source_may_read() {
    world()
        .memory("hidden", "far")
        .when(agent("src"), initiate("dst", &["hidden"]))
        .then_not_found();
    world()
        .memory_until("brief", "src", T0)
        .when(agent("src"), initiate("dst", &["brief"]))
        .then_expired();
}

#[test]
fn another_s_memory_passes_only_to_a_target_that_already_reads_it() {
    world()
        .when(agent("src"), initiate("dst", &["theirs"]))
        .then_denied();
    world()
        .member("p", "dst", Read)
        .when(agent("src"), initiate("dst", &["theirs"]))
        .then_audited("handoff.initiated");
}

#[test]
fn the_ttl_is_bounded() {
    world()
        .when(agent("src"), |s, cx| {
            handoffs::initiate(s, cx, "src", "dst", &ev::context("t", &[]), Some(0))
        })
        .then_invalid("ttl_seconds");
}

#[test]
fn another_owner_fills_only_part_of_a_target_s_inbox() {
    let busy = || {
        world()
            .limits(|l| l.pending_per_target_per_owner = 1)
            .handoff("h1", "far", "dst", &[])
    };
    busy()
        .agent("far2", "u2", ClaudeCode)
        .when(agent("far2"), |s, cx| {
            handoffs::initiate(s, cx, "far2", "dst", &ev::context("t", &[]), None)
        })
        .then_capacity("pending-handoffs-per-owner");
    busy()
        .when(agent("src"), initiate("dst", &[]))
        .then_audited("handoff.initiated");
}

#[test]
fn initiating_marks_due_handoffs_expired_in_the_same_entry() {
    pending()
        .at(T0 + 3_600_000)
        .when(agent("src"), initiate("third", &[]))
        .then_events_where(|events| {
            assert_eq!(
                events.first(),
                Some(&Event::HandoffExpired { id: "h".into() })
            );
            assert_eq!(events.len(), 2);
        });
}

// ---- accepting ----

#[test]
fn the_target_accepts_and_is_granted_the_memories() {
    pending()
        .when(agent("dst"), |s, cx| handoffs::accept(s, cx, "h", "dst"))
        .then_events(vec![Event::HandoffAccepted {
            id: "h".into(),
            granted: vec!["mine".into()],
        }])
        .then_audited("handoff.accepted")
        .then_state(|s| {
            let m = &s.memories["mine"];
            assert!(crate::access::memory_readable(s, m, &s.agents["dst"]));
        });
}

#[test]
fn only_the_target_accepts() {
    pending()
        .when(agent("src"), |s, cx| handoffs::accept(s, cx, "h", "src"))
        .then_denied();
    pending()
        .when(agent("third"), |s, cx| {
            handoffs::accept(s, cx, "h", "third")
        })
        .then_not_found();
}

#[test]
fn a_handoff_is_accepted_once() {
    pending()
        .accepted("h", &["mine"])
        .when(agent("dst"), |s, cx| handoffs::accept(s, cx, "h", "dst"))
        .then_invalid("handoff_id");
}

#[test]
fn an_expired_handoff_cannot_be_accepted() {
    pending()
        .at(T0 + 3_600_000)
        .when(agent("dst"), |s, cx| handoffs::accept(s, cx, "h", "dst"))
        .then_expired();
}

#[test]
fn memories_the_source_can_no_longer_read_are_dropped_on_accept() {
    world()
        .member("p", "dst", Read)
        .handoff("h", "src", "dst", &["theirs", "mine"])
        .event(ev::left("p", "src"))
        .event(Event::MemoryDeleted { id: "mine".into() })
        .when(agent("dst"), |s, cx| handoffs::accept(s, cx, "h", "dst"))
        .then_events(vec![Event::HandoffAccepted {
            id: "h".into(),
            granted: Vec::new(),
        }]);
}

// ---- rejecting, cancelling, completing ----

#[test]
fn the_target_rejects_with_a_reason_and_the_source_may_not() {
    pending()
        .when(agent("dst"), |s, cx| {
            handoffs::reject(s, cx, "h", "dst", "busy")
        })
        .then_events(vec![Event::HandoffRejected {
            id: "h".into(),
            reason: "busy".into(),
            notes: None,
        }]);
    pending()
        .when(agent("src"), |s, cx| {
            handoffs::reject(s, cx, "h", "src", "no")
        })
        .then_denied();
    pending()
        .when(agent("dst"), |s, cx| {
            handoffs::reject(s, cx, "h", "dst", "")
        })
        .then_invalid("reason");
}

#[test]
fn the_source_cancels_a_pending_handoff_and_the_target_may_not() {
    pending()
        .when(agent("src"), |s, cx| handoffs::cancel(s, cx, "h", "src"))
        .then_events(vec![Event::HandoffCancelled { id: "h".into() }])
        .then_audited("handoff.cancelled");
    pending()
        .when(agent("dst"), |s, cx| handoffs::cancel(s, cx, "h", "dst"))
        .then_denied();
    pending()
        .accepted("h", &[])
        .when(agent("src"), |s, cx| handoffs::cancel(s, cx, "h", "src"))
        .then_invalid("handoff_id");
}

#[test]
fn the_target_completes_an_accepted_handoff_only() {
    pending()
        .accepted("h", &[])
        .when(agent("dst"), |s, cx| {
            handoffs::complete(s, cx, "h", "dst", Some(r#"{"ok": true}"#))
        })
        .then_events(vec![Event::HandoffCompleted {
            id: "h".into(),
            result: r#"{"ok":true}"#.into(),
            notes: None,
        }]);
    pending()
        .when(agent("dst"), |s, cx| {
            handoffs::complete(s, cx, "h", "dst", None)
        })
        .then_invalid("handoff_id");
    pending()
        .accepted("h", &[])
        .when(agent("src"), |s, cx| {
            handoffs::complete(s, cx, "h", "src", None)
        })
        .then_denied();
}

// ---- seeing and cleaning up ----

#[test]
fn a_handoff_is_seen_by_its_parties_and_the_operator_only() {
    for who in [agent("src"), agent("dst"), op()] {
        pending()
            .when(who, |s, cx| handoffs::get(s, cx, "h"))
            .then_read("handoff.read");
    }
    pending()
        .when(agent("third"), |s, cx| handoffs::get(s, cx, "h"))
        .then_not_found();
}

#[test]
fn an_expired_handoff_is_neither_pending_nor_listed_as_such() {
    pending()
        .at(T0 + 3_600_000)
        .when(agent("dst"), |s, cx| {
            handoffs::pending(s, cx, "dst", &PageRequest::default())
        })
        .then_value(|v| assert!(v.items.is_empty() && v.next_cursor.is_none()));
}

#[test]
fn only_the_operator_cleans_up_and_old_terminal_handoffs_go() {
    pending()
        .when(agent("src"), handoffs::cleanup)
        .then_denied();
    let week = 7 * 24 * 3_600_000;
    pending()
        .at(T0 + 3_600_000 + week)
        .when(op(), handoffs::cleanup)
        .then_events(vec![
            Event::HandoffExpired { id: "h".into() },
            Event::HandoffRemoved { id: "h".into() },
        ])
        .then_value(|removed| assert_eq!(*removed, (1, false)));
}

// ---- asking the source for input ----

/// `pending` with `h` accepted by dst.
fn accepted() -> Given {
    pending().event(Event::HandoffAccepted {
        id: "h".into(),
        granted: vec!["mine".into()],
    })
}

fn asked() -> Given {
    accepted().event(Event::HandoffInputRequested {
        id: "h".into(),
        question: "which endpoint?".into(),
        notes: None,
    })
}

#[test]
fn the_target_of_an_accepted_handoff_asks_its_source_and_the_source_answers() {
    accepted()
        .when(agent("dst"), |s, cx| {
            handoffs::request_input(s, cx, "h", "dst", "which endpoint?")
        })
        .then_events(vec![Event::HandoffInputRequested {
            id: "h".into(),
            question: "which endpoint?".into(),
            notes: None,
        }])
        .then_audited("handoff.input_required")
        .then_state(|s| {
            let h = &s.handoffs["h"];
            assert_eq!(h.status, HandoffStatus::InputRequired);
            assert!(h.is_live(0), "input_required is not terminal");
        });
    asked()
        .when(agent("src"), |s, cx| {
            handoffs::provide_input(s, cx, "h", "src", "POST /login")
        })
        .then_audited("handoff.input_provided")
        .then_state(|s| {
            let h = &s.handoffs["h"];
            assert_eq!(h.status, HandoffStatus::Accepted);
            assert_eq!(h.question.as_deref(), Some("which endpoint?"));
            assert_eq!(h.answer.as_deref(), Some("POST /login"));
        });
}

#[test]
fn only_the_right_party_asks_or_answers_and_only_in_the_right_state() {
    accepted()
        .when(agent("src"), |s, cx| {
            handoffs::request_input(s, cx, "h", "src", "?")
        })
        .then_denied();
    pending()
        .when(agent("dst"), |s, cx| {
            handoffs::request_input(s, cx, "h", "dst", "?")
        })
        .then_invalid("handoff_id");
    accepted()
        .when(agent("dst"), |s, cx| {
            handoffs::request_input(s, cx, "h", "dst", "")
        })
        .then_invalid("question");
    accepted()
        .when(agent("src"), |s, cx| {
            handoffs::provide_input(s, cx, "h", "src", "x")
        })
        .then_invalid("handoff_id");
    asked()
        .when(agent("dst"), |s, cx| {
            handoffs::provide_input(s, cx, "h", "dst", "x")
        })
        .then_denied();
    asked()
        .when(agent("third"), |s, cx| {
            handoffs::provide_input(s, cx, "h", "third", "x")
        })
        .then_not_found();
    // While waiting for the answer the target cannot complete.
    asked()
        .when(agent("dst"), |s, cx| {
            handoffs::complete(s, cx, "h", "dst", None)
        })
        .then_invalid("handoff_id");
}

#[test]
fn one_owner_s_agents_hold_only_part_of_the_live_handoffs() {
    // u1 holds two live handoffs (one pending, one accepted, which never expires);
    // its share is two, so a third is refused while u2 still initiates.
    let full = || {
        world()
            .limits(|l| l.handoffs_per_owner = 2)
            .handoff("h1", "src", "dst", &[])
            .handoff("h2", "third", "dst", &[])
            .accepted("h2", &[])
    };
    full()
        .when(agent("src"), initiate("third", &[]))
        .then_capacity("handoffs-per-owner");
    full()
        .when(agent("far"), |s, cx| {
            handoffs::initiate(s, cx, "far", "dst", &ev::context("t", &[]), None)
        })
        .then_audited("handoff.initiated");
    // An expired pending handoff, a completed one and a cancelled one stop counting.
    full()
        .at(T0 + 3_600_000)
        .when(agent("src"), initiate("third", &[]))
        .then_audited("handoff.initiated");
    full()
        .event(Event::HandoffCancelled { id: "h1".into() })
        .when(agent("src"), initiate("third", &[]))
        .then_audited("handoff.initiated");
}

#[test]
fn the_live_handoffs_of_each_owner_are_counted_as_a_rebuild_counts_them() {
    let g = world()
        .agent("gone", "u2", ClaudeCode)
        .handoff("h1", "src", "dst", &[])
        .handoff("h2", "far", "dst", &[])
        .handoff("h3", "gone", "dst", &[])
        .accepted("h3", &[])
        .handoff("h4", "gone", "src", &[])
        .event(Event::HandoffCancelled { id: "h4".into() })
        .event(Event::HandoffCancelled { id: "h1".into() })
        .handoff("h5", "src", "third", &[])
        .handoff("h7", "far", "dst", &[])
        .event(Event::HandoffRejected {
            id: "h7".into(),
            reason: "not mine".into(),
            notes: None,
        })
        .handoff("h6", "far", "src", &["mine"])
        .accepted("h6", &[])
        .event(Event::HandoffInputRequested {
            id: "h6".into(),
            question: "which branch?".into(),
            notes: None,
        })
        .event(Event::HandoffInputProvided {
            id: "h6".into(),
            answer: "main".into(),
            notes: None,
        })
        .event(Event::HandoffCompleted {
            id: "h6".into(),
            result: "{\"done\":true}".into(),
            notes: None,
        })
        .event(Event::HandoffRemoved { id: "h4".into() })
        .event(Event::AgentUnregistered { id: "gone".into() });
    let counted = g.state().handoffs_by_owner.clone();
    let mut rebuilt = g.state().clone();
    rebuilt.count_per_owner();
    assert_eq!(counted, rebuilt.handoffs_by_owner);
    // The order of each agent's handoffs is the one a restore derives.
    let mut ordered = g.state().clone();
    ordered.order_handoffs();
    assert_eq!(ordered.handoff_order, g.state().handoff_order);
    // src: h1, h5 and h6 (h4 removed).
    assert_eq!(g.state().handoff_order["src"].len(), 3);
    // So are the texts each party wrote into them.
    assert_eq!(g.state().text_by_owner, rebuilt.text_by_owner);
    assert_eq!(g.state().text_by_agent, rebuilt.text_by_agent);
    let s = g.state();
    let kept = |id: &str| s.handoffs[id].text_bytes();
    let memory =
        |id: &str| crate::state::memory_text_bytes(&s.memories[id].content, &s.memories[id].tags);
    // u1: its memories, src's h1 and h5, dst's reason in h7, src's question and result
    // in h6; u2: far's h2, h7 and h6 (with its answer). gone's h3 counts for nobody.
    let u1 = memory("mine") + memory("theirs") + kept("h1").0 + kept("h5").0;
    assert_eq!(
        s.text_by_owner.get("u1"),
        Some(&(u1 + kept("h7").1 + kept("h6").1))
    );
    let u2 = kept("h2").0 + kept("h7").0 + kept("h6").0;
    assert_eq!(s.text_by_owner.get("u2"), Some(&u2));
    assert_eq!(kept("h6"), (1024 + 9 + 2 + 4 + 4, 13 + 13));
    // h5 for u1, h2 for u2; h3 (accepted, its source gone) counts for nobody.
    assert_eq!(counted.get("u1"), Some(&1));
    assert_eq!(counted.get("u2"), Some(&1));
}

#[test]
fn a_kept_handoff_counts_toward_the_share_of_text_of_each_party_that_wrote_it() {
    // Each handoff of "take over" from src holds 1,024 bytes for its record and 11 of
    // text; u1's memories "note mine" and "note theirs" hold 20. A share of three such
    // handoffs and the memories, less a byte.
    let one = crate::state::HANDOFF_RECORD_BYTES + 11;
    let share = 20 + 3 * one - 1;
    let full = || {
        world()
            .limits(|l| l.text_bytes_per_owner = share)
            .handoff("h1", "src", "dst", &[])
            .event(Event::HandoffCancelled { id: "h1".into() })
            .handoff("h2", "src", "third", &[])
            .event(Event::HandoffExpired { id: "h2".into() })
    };
    // Cancelled and expired, they are kept and still count: a third does not fit.
    full()
        .when(agent("src"), initiate("dst", &[]))
        .then_capacity("text-bytes-per-owner");
    // Another owner's agent is not held to u1's share.
    full()
        .when(agent("far"), |s, cx| {
            handoffs::initiate(s, cx, "far", "dst", &ev::context("take over", &[]), None)
        })
        .then_audited("handoff.initiated");
    // Removed (the operator's cleanup), one makes room again.
    full()
        .event(Event::HandoffRemoved { id: "h1".into() })
        .when(agent("src"), initiate("dst", &[]))
        .then_audited("handoff.initiated");
    // What the target writes counts toward its own owner's share: u2's far may not
    // ask a question past u2's, and the source's owner is not charged.
    let to_far = || {
        world()
            .limits(|l| l.text_bytes_per_owner = 8)
            .handoff("h", "src", "far", &[])
            .accepted("h", &[])
    };
    to_far()
        .when(agent("far"), |s, cx| {
            handoffs::request_input(s, cx, "h", "far", "what now?")
        })
        .then_capacity("text-bytes-per-owner");
    to_far()
        .when(agent("far"), |s, cx| {
            handoffs::request_input(s, cx, "h", "far", "and now?")
        })
        .then_audited("handoff.input_required");
    // Finishing, it may write a reason or result of up to 1 KiB past its share, so an
    // owner at its share still finishes what it was handed; a longer one is refused.
    let long = format!("\"{}\"", "r".repeat(crate::limits::MAX_REASON));
    to_far()
        .when(agent("far"), |s, cx| {
            handoffs::complete(s, cx, "h", "far", Some(&long))
        })
        .then_capacity("text-bytes-per-owner");
    to_far()
        .when(agent("far"), |s, cx| {
            handoffs::complete(s, cx, "h", "far", Some("\"a result past the share\""))
        })
        .then_audited("handoff.completed");
    let full = || {
        world()
            .limits(|l| l.text_bytes_per_owner = 1)
            .handoff("h", "src", "far", &[])
    };
    full()
        .when(agent("far"), |s, cx| {
            handoffs::reject(s, cx, "h", "far", "not mine to do")
        })
        .then_audited("handoff.rejected");
}
