//! Agents: registration, tokens, who sees and manages whom, sessions.

use super::*;
use crate::agents::{self, RegistrationRequest};
use crate::page::PageRequest;
use AgentType::{ClaudeCode, CustomPipeline, Human};

fn request(id: &str, owner: &str, agent_type: AgentType) -> RegistrationRequest {
    RegistrationRequest {
        agent_type,
        owner_id: owner.into(),
        agent_id: Some(id.into()),
        capabilities: None,
        metadata: None,
    }
}

/// Owner `u1`: `boss` (human), `a1` and `a2` (claude code). Owner `u2`: `b1`.
fn world() -> Given {
    given()
        .agent("boss", "u1", Human)
        .agent("a1", "u1", ClaudeCode)
        .agent("a2", "u1", ClaudeCode)
        .agent("b1", "u2", ClaudeCode)
}

// ---- registering ----

#[test]
fn the_operator_registers_an_agent_with_its_type_s_capabilities() {
    let mut token = String::new();
    given()
        .when(op(), |s, cx| {
            agents::register(s, cx, &request("p1", "u1", CustomPipeline))
        })
        .then_value(|r| token = r.token.clone())
        .then_audited("agent.registered")
        .then_state(|s| {
            let a = &s.agents["p1"];
            assert_eq!(a.capabilities, CustomPipeline.default_capabilities());
            assert!(a.active);
        });
    assert!(token.starts_with("maas_") && token.len() == 69);
}

#[test]
fn no_agent_is_registered_under_the_operator_s_or_a_failed_sign_in_s_name_in_any_case() {
    for id in ["operator", "Operator", "OPERATOR", "anonymous", "Anonymous"] {
        given()
            .when(op(), |s, cx| {
                agents::register(s, cx, &request(id, "u1", ClaudeCode))
            })
            .then_invalid("agent_id");
    }
    given()
        .when(op(), |s, cx| {
            agents::register(s, cx, &request("operator-2", "u1", ClaudeCode))
        })
        .then_audited("agent.registered");
}

#[test]
fn the_registration_event_keeps_the_token_s_hash_only() {
    let then = given().when(op(), |s, cx| {
        agents::register(s, cx, &request("p1", "u1", ClaudeCode))
    });
    let mut token = String::new();
    let then = then.then_value(|r| token = r.token.clone());
    then.then_events(vec![Event::AgentRegistered {
        id: "p1".into(),
        agent_type: ClaudeCode,
        owner_id: "u1".into(),
        capabilities: ClaudeCode.default_capabilities(),
        metadata: "{}".into(),
        token_hash: hash_token(&token),
    }]);
}

#[test]
fn an_agent_may_not_register_agents() {
    world()
        .when(agent("boss"), |s, cx| {
            agents::register(s, cx, &request("x", "u1", ClaudeCode))
        })
        .then_denied();
}

#[test]
fn an_agent_id_is_never_reused() {
    world()
        .event(Event::AgentUnregistered { id: "a2".into() })
        .when(op(), |s, cx| {
            agents::register(s, cx, &request("a2", "u1", ClaudeCode))
        })
        .then_invalid("agent_id");
}

#[test]
fn registering_past_the_agents_limit_is_refused() {
    world()
        .limits(|l| l.agents = 4)
        .when(op(), |s, cx| {
            agents::register(s, cx, &request("x", "u1", ClaudeCode))
        })
        .then_capacity("agents");
}

// ---- tokens ----

#[test]
fn a_token_maps_to_its_active_agent_and_writes_nothing() {
    world()
        .when(op(), |s, cx| agents::authenticate(s, cx, "a1"))
        .then_value(|r| assert_eq!(r.as_deref(), Ok("a1")))
        .then_events(Vec::new());
}

#[test]
fn an_unknown_or_deactivated_token_is_denied_and_audited() {
    for (g, token) in [(world(), "nobody"), (world().deactivated("a1"), "a1")] {
        g.when(op(), |s, cx| agents::authenticate(s, cx, token))
            .then_read("auth.failed")
            .then_value(|r| assert!(matches!(r, Err(Error::PermissionDenied(_)))));
    }
}

#[test]
fn rotations_and_an_unregistration_replace_only_the_agent_s_own_token() {
    let g = world()
        .rotated("a1", "first")
        .rotated("a1", "second")
        .rotated("a2", "other");
    let s = g.state();
    assert_eq!(
        s.tokens.get(&hash_token("second")).map(String::as_str),
        Some("a1")
    );
    for gone in ["a1", "first", "a2"] {
        assert_eq!(s.tokens.get(&hash_token(gone)), None, "{gone}");
    }
    assert_eq!(s.token_of.len(), s.tokens.len());
    let g = g.event(Event::AgentUnregistered { id: "a1".into() });
    let s = g.state();
    assert!(!s.tokens.values().any(|id| id == "a1"));
    assert!(!s.token_of.contains_key("a1"));
    assert_eq!(
        s.tokens.get(&hash_token("other")).map(String::as_str),
        Some("a2")
    );
    assert_eq!(
        s.tokens.get(&hash_token("b1")).map(String::as_str),
        Some("b1")
    );
}

#[test]
fn an_agent_rotates_its_own_token_and_the_old_one_stops_working() {
    let mut token = String::new();
    world()
        .when(agent("a1"), |s, cx| agents::rotate_token(s, cx, "a1"))
        .then_value(|t| token = t.clone())
        .then_audited("agent.token_rotated")
        .then_state(|s| {
            assert_eq!(
                s.tokens.get(&hash_token("a1")),
                None,
                "the old token is gone"
            );
            let a1 = s.tokens.values().filter(|id| *id == "a1").count();
            assert_eq!(a1, 1, "one token per agent");
        });
    assert!(token.starts_with("maas_") && token.len() == 69);
    let body = token.as_bytes().get(5..).unwrap_or_default();
    assert!(crate::token::is_body(body), "checked: {token}");
    world()
        .rotated("a1", &token)
        .when(op(), |s, cx| agents::authenticate(s, cx, &token))
        .then_value(|r| assert_eq!(r.as_deref(), Ok("a1")));
    world()
        .rotated("a1", &token)
        .when(op(), |s, cx| agents::authenticate(s, cx, "a1"))
        .then_read("auth.failed")
        .then_value(|r| assert!(matches!(r, Err(Error::PermissionDenied(_)))));
}

#[test]
fn whoever_may_deactivate_an_agent_may_rotate_its_token_and_nobody_else() {
    world()
        .when(agent("boss"), |s, cx| agents::rotate_token(s, cx, "a1"))
        .then_audited("agent.token_rotated");
    world()
        .deactivated("a1")
        .when(op(), |s, cx| agents::rotate_token(s, cx, "a1"))
        .then_audited("agent.token_rotated");
    world()
        .when(agent("a2"), |s, cx| agents::rotate_token(s, cx, "a1"))
        .then_denied();
    world()
        .deactivated("a1")
        .when(agent("a1"), |s, cx| agents::rotate_token(s, cx, "a1"))
        .then_denied();
    world()
        .when(agent("boss"), |s, cx| agents::rotate_token(s, cx, "b1"))
        .then_not_found();
    world()
        .when(op(), |s, cx| agents::rotate_token(s, cx, "ghost"))
        .then_not_found();
}

// ---- seeing ----

#[test]
fn an_agent_sees_agents_of_its_owner_and_no_others() {
    world()
        .when(agent("a1"), |s, cx| agents::get(s, cx, "a2"))
        .then_read("agent.read");
    world()
        .when(agent("a1"), |s, cx| agents::get(s, cx, "b1"))
        .then_not_found();
}

#[test]
fn an_agent_lists_its_own_owner_only() {
    world()
        .when(agent("a1"), |s, cx| {
            agents::list_by_owner(s, cx, "u1", &PageRequest::default())
        })
        .then_value(|v| {
            let ids: Vec<&str> = v.items.iter().map(|a| a.id.as_str()).collect();
            assert_eq!(ids, ["boss", "a1", "a2"]);
        });
    world()
        .when(agent("a1"), |s, cx| {
            agents::list_by_owner(s, cx, "u2", &PageRequest::default())
        })
        .then_denied();
}

// ---- managing ----

#[test]
fn an_agent_deactivates_itself_and_its_open_session_ends() {
    world()
        .event(Event::SessionStarted {
            agent_id: "a1".into(),
            session_id: "s1".into(),
        })
        .when(agent("a1"), |s, cx| agents::deactivate(s, cx, "a1"))
        .then_events(vec![
            Event::SessionEnded {
                agent_id: "a1".into(),
            },
            Event::AgentDeactivated { id: "a1".into() },
        ])
        .then_audited("agent.deactivated");
}

#[test]
fn a_human_of_the_owner_manages_its_agents_and_a_peer_does_not() {
    world()
        .when(agent("boss"), |s, cx| agents::deactivate(s, cx, "a1"))
        .then_events(vec![Event::AgentDeactivated { id: "a1".into() }]);
    world()
        .when(agent("a2"), |s, cx| agents::deactivate(s, cx, "a1"))
        .then_denied();
    world()
        .when(agent("boss"), |s, cx| agents::deactivate(s, cx, "b1"))
        .then_not_found();
}

#[test]
fn deactivating_twice_is_invalid() {
    world()
        .deactivated("a1")
        .when(op(), |s, cx| agents::deactivate(s, cx, "a1"))
        .then_invalid("agent_id");
}

#[test]
fn a_deactivated_agent_cannot_act_or_reactivate_itself() {
    world()
        .deactivated("a1")
        .when(agent("a1"), |s, cx| agents::reactivate(s, cx, "a1"))
        .then_denied();
    world()
        .deactivated("a1")
        .when(agent("boss"), |s, cx| agents::reactivate(s, cx, "a1"))
        .then_events(vec![Event::AgentReactivated { id: "a1".into() }]);
    world()
        .when(op(), |s, cx| agents::reactivate(s, cx, "a1"))
        .then_invalid("agent_id");
}

#[test]
fn unregistering_cancels_pending_handoffs_both_ways_accepted_ones_it_would_complete_and_questions_it_leaves_open()
 {
    world()
        .handoff("to-a1", "a2", "a1", &[])
        .handoff("from-a1", "a1", "a2", &[])
        .handoff("a1-works", "a2", "a1", &[])
        .accepted("a1-works", &[])
        .handoff("a2-works", "a1", "a2", &[])
        .accepted("a2-works", &[])
        // Waiting on a question: one a1 asked, one a1 was to answer.
        .handoff("a1-asked", "a2", "a1", &[])
        .accepted("a1-asked", &[])
        .event(ev::asked("a1-asked"))
        .handoff("a1-to-answer", "a1", "a2", &[])
        .accepted("a1-to-answer", &[])
        .event(ev::asked("a1-to-answer"))
        .when(agent("a1"), |s, cx| agents::unregister(s, cx, "a1"))
        .then_state(|s| {
            assert!(!s.agents.contains_key("a1"));
            assert!(s.id_used("agent", "a1"));
        })
        .then_audited("agent.unregistered")
        .then_events_where(|events| {
            let mut cancelled: Vec<&str> = events
                .iter()
                .filter_map(|e| match e {
                    Event::HandoffCancelled { id } => Some(id.as_str()),
                    _ => None,
                })
                .collect();
            cancelled.sort();
            assert_eq!(
                cancelled,
                ["a1-asked", "a1-to-answer", "a1-works", "from-a1", "to-a1"]
            );
        });
}

#[test]
fn unregistering_removes_memberships() {
    world()
        .pool("p", "u1", Scope::Project)
        .member("p", "a1", Permission::Write)
        .when(op(), |s, cx| agents::unregister(s, cx, "a1"))
        .then_state(|s| {
            assert!(s.pools["p"].members.is_empty());
            assert!(!s.memberships.contains_key("a1"));
        });
}

// ---- sessions ----

#[test]
fn an_agent_opens_its_own_session_only() {
    world()
        .when(agent("a1"), |s, cx| agents::start_session(s, cx, "a1"))
        .then_audited("session.started")
        .then_value(|sess| assert_eq!((sess.agent_id.as_str(), sess.started_at), ("a1", T0)));
    world()
        .when(agent("a1"), |s, cx| agents::start_session(s, cx, "a2"))
        .then_denied();
}

#[test]
fn the_sessions_limit_counts_other_agents_sessions_only() {
    let full = || {
        world()
            .limits(|l| l.sessions = 1)
            .event(Event::SessionStarted {
                agent_id: "a1".into(),
                session_id: "s1".into(),
            })
    };
    full()
        .when(agent("a2"), |s, cx| agents::start_session(s, cx, "a2"))
        .then_capacity("sessions");
    full()
        .when(agent("a1"), |s, cx| agents::start_session(s, cx, "a1"))
        .then_audited("session.started");
}

#[test]
fn ending_a_session_that_is_not_open_is_not_found() {
    world()
        .when(agent("a1"), |s, cx| agents::end_session(s, cx, "a1"))
        .then_not_found();
}
