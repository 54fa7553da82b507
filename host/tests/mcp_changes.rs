//! The change feed over MCP HTTP with real rmcp clients: waiters wake with exactly the
//! changes their agent may see, and the feed pages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;

use mcp_support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The kinds and objects of a page's changes.
fn seen(page: &Value) -> Vec<(String, String)> {
    page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["object_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The head cursor the agent follows from.
async fn head(client: &Client) -> String {
    let page = ok(client, "get_changes", json!({})).await;
    assert!(page["changes"].as_array().unwrap().is_empty());
    page["next_cursor"].as_str().unwrap().to_string()
}

/// Starts a wait from `after`; resolves to the page and how long after `since` it came.
fn waiter(client: &Client, after: &str, timeout: u64) -> tokio::task::JoinHandle<(Value, Instant)> {
    let client = client.peer().clone();
    let args = json!({"after": after, "timeout_seconds": timeout});
    tokio::spawn(async move {
        let args = match args {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let result = client
            .call_tool(
                rmcp::model::CallToolRequestParams::new("wait_for_changes").with_arguments(args),
            )
            .await
            .unwrap();
        (body(&result), Instant::now())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_waiter_wakes_with_exactly_what_its_agent_may_see() {
    let server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let ann_token = register(&op, "ann", "claude_code", "u1").await;
    let bob_token = register(&op, "bob", "claude_code", "u2").await;
    let eve_token = register(&op, "eve", "claude_code", "u3").await;
    ok(
        &op,
        "create_pool",
        json!({"pool_id": "p", "name": "project", "owner_id": "u1", "scope": "project"}),
    )
    .await;
    ok(
        &op,
        "join_pool",
        json!({"pool_id": "p", "agent_id": "ann", "permission": "admin"}),
    )
    .await;
    ok(
        &op,
        "join_pool",
        json!({"pool_id": "p", "agent_id": "bob", "permission": "write"}),
    )
    .await;
    ok(
        &op,
        "create_pool",
        json!({"pool_id": "q", "name": "eve's", "owner_id": "u3", "scope": "project"}),
    )
    .await;
    ok(
        &op,
        "join_pool",
        json!({"pool_id": "q", "agent_id": "eve", "permission": "write"}),
    )
    .await;
    let ann = connect(&server.url, &ann_token).await;
    let bob = connect(&server.url, &bob_token).await;
    let eve = connect(&server.url, &eve_token).await;
    let mut at_ann = head(&ann).await;
    let mut at_bob = head(&bob).await;
    let mut at_eve = head(&eve).await;
    let mut delays = Vec::new();

    // Each step: who acts, and what bob's and ann's waiters must wake with.
    type Step = (
        &'static str,
        Value,
        Option<(&'static str, Option<&'static str>)>,
        Option<&'static str>,
    );
    let steps: Vec<Step> = vec![
        (
            "initiate_handoff",
            json!({"target_agent_id": "bob", "task_description": "finish it"}),
            Some(("handoff.initiated", None)),
            Some("handoff.initiated"),
        ),
        (
            "store_memory",
            json!({"memory_id": "m1", "content": "the deploy runs at noon", "memory_type": "note", "pool_id": "p"}),
            Some(("memory.shared", Some("m1"))),
            None,
        ),
        (
            "update_memory",
            json!({"memory_id": "m1", "content": "the deploy runs at one", "expected_version": 1}),
            Some(("memory.updated", Some("m1"))),
            None,
        ),
        (
            "unshare_memory",
            json!({"pool_id": "p", "memory_id": "m1"}),
            Some(("memory.unshared", Some("m1"))),
            None,
        ),
    ];
    for (tool, args, for_bob, for_ann) in steps {
        let wb = waiter(&bob, &at_bob, 10);
        let wa = for_ann.map(|_| waiter(&ann, &at_ann, 10));
        let we = waiter(&eve, &at_eve, 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let acted = Instant::now();
        ok(&ann, tool, args).await;
        let (page, woke) = wb.await.unwrap();
        delays.push(woke - acted);
        let (kind, object) = for_bob.unwrap();
        let got = seen(&page);
        assert_eq!(got.len(), 1, "{tool}: {page}");
        assert_eq!(got[0].0, kind, "{tool}");
        if let Some(object) = object {
            assert_eq!(got[0].1, object);
        }
        at_bob = page["next_cursor"].as_str().unwrap().to_string();
        if let (Some(wa), Some(kind)) = (wa, for_ann) {
            let (page, _) = wa.await.unwrap();
            assert_eq!(seen(&page)[0].0, kind);
            at_ann = page["next_cursor"].as_str().unwrap().to_string();
        }
        let (page, _) = we.await.unwrap();
        assert!(
            seen(&page).is_empty(),
            "eve sees nothing of p or the handoff: {page}"
        );
        at_eve = page["next_cursor"].as_str().unwrap().to_string();
    }
    // Eve's own pool: bob never sees it; ann learns bob left p.
    at_ann = head(&ann).await;
    let wa = waiter(&ann, &at_ann, 10);
    ok(&eve, "store_memory", json!({"memory_id": "secret", "content": "eve's plans", "memory_type": "note", "pool_id": "q"})).await;
    ok(&bob, "leave_pool", json!({"pool_id": "p"})).await;
    let (page, _) = wa.await.unwrap();
    let got = seen(&page);
    assert!(got.iter().all(|(_, o)| o != "secret"), "{page}");
    assert!(
        got.contains(&("pool.left".to_string(), "bob".to_string())),
        "{page}"
    );
    let page = ok(&bob, "get_changes", json!({"after": at_bob})).await;
    assert_eq!(
        seen(&page),
        [("pool.left".to_string(), "bob".to_string())],
        "{page}"
    );

    // A wait with nothing to see answers empty at its timeout, and bad arguments are
    // typed errors.
    let started = Instant::now();
    let page = ok(
        &eve,
        "wait_for_changes",
        json!({"timeout_seconds": 1, "kinds": ["handoff"]}),
    )
    .await;
    assert!(seen(&page).is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
    fails(
        &eve,
        "wait_for_changes",
        json!({"timeout_seconds": 31}),
        "invalid_input",
    )
    .await;
    fails(
        &eve,
        "get_changes",
        json!({"after": "nonsense"}),
        "invalid_input",
    )
    .await;
    fails(
        &eve,
        "get_changes",
        json!({"agent_id": "ann"}),
        "permission_denied",
    )
    .await;
    delays.sort();
    eprintln!(
        "wake delay over MCP HTTP, write to waiter's answer: median {:?}, max {:?}",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_pages_with_a_cursor() {
    let server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let ann_token = register(&op, "ann", "claude_code", "u1").await;
    let ann = connect(&server.url, &ann_token).await;
    ok(
        &op,
        "create_pool",
        json!({"pool_id": "p", "name": "project", "owner_id": "u1", "scope": "project"}),
    )
    .await;
    ok(
        &op,
        "join_pool",
        json!({"pool_id": "p", "agent_id": "ann", "permission": "write"}),
    )
    .await;
    let start = head(&ann).await;
    for i in 0..12 {
        ok(&ann, "store_memory", json!({"memory_id": format!("m{i}"), "content": format!("note {i}"), "memory_type": "note", "pool_id": "p"})).await;
    }
    let mut after = start;
    let mut ids = Vec::new();
    loop {
        let page = ok(
            &ann,
            "get_changes",
            json!({"after": after, "limit": 5, "kinds": ["memory"]}),
        )
        .await;
        ids.extend(seen(&page).into_iter().map(|(_, o)| o));
        after = page["next_cursor"].as_str().unwrap().to_string();
        if page["has_more"] == false {
            assert_eq!(page["next_cursor"], page["head"]);
            break;
        }
    }
    let want: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    assert_eq!(ids, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_names_its_owner_and_its_actor_only_to_agents_that_may_look_it_up() {
    let server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let ann = connect(
        &server.url,
        &register(&op, "ann", "claude_code", "acme").await,
    )
    .await;
    let amy = connect(
        &server.url,
        &register(&op, "amy", "claude_code", "acme").await,
    )
    .await;
    let eve = connect(
        &server.url,
        &register(&op, "eve", "claude_code", "evil").await,
    )
    .await;
    let doc = json!({"kind": "decision", "id": "adr-1", "title": "Queue", "content": "We use one queue per service.", "topic": "queues"});
    ok(&ann, "ingest_documents", json!({"documents": [doc]})).await;
    for (who, client, actor) in [
        ("operator", &op, json!("ann")),
        ("ann", &ann, json!("ann")),
        ("amy", &amy, json!("ann")),
        ("eve", &eve, Value::Null),
    ] {
        let page = ok(client, "get_changes", json!({"after": "c0"})).await;
        let change = page["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "knowledge.ingested")
            .cloned()
            .unwrap_or_else(|| panic!("{who}: {page}"));
        assert_eq!(change["object_id"], "decision/adr-1", "{who}");
        assert_eq!(change["actor"], actor, "{who}: {change}");
    }
    // The document itself is read across owners, and says whose it is.
    let doc = json!({"kind": "decision", "id": "adr-2", "title": "Queues", "content": "Queue retries back off.", "topic": "queues"});
    ok(&op, "ingest_documents", json!({"documents": [doc]})).await;
    let found = ok(&eve, "search_decisions", json!({"query": "queue"})).await;
    let owners: Vec<(String, Value)> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["id"].as_str().unwrap().to_string(), h["owner"].clone()))
        .collect();
    assert!(
        owners.contains(&("adr-1".to_string(), json!("acme"))),
        "{found}"
    );
    assert!(
        owners.contains(&("adr-2".to_string(), Value::Null)),
        "{found}"
    );
}
