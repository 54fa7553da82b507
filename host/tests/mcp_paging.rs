//! Lists that page, over MCP Streamable HTTP with a real rmcp client: 200 pending
//! handoffs read page by page, with a handoff initiated between two pages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;

use maas_host::journal::MemoryJournal;
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions, default_limits};
use mcp_support::*;
use serde_json::{Value, json};

/// A core that lets one target have `room` pending handoffs.
fn core_with_room(room: u64) -> CoreService {
    CoreService::spawn(move || {
        let mut limits = default_limits();
        limits.pending_per_target = room;
        limits.pending_per_target_per_owner = room;
        Runtime::new(
            CoreImage::shared()?,
            Box::new(MemoryJournal::new()),
            RuntimeOptions {
                limits,
                ..RuntimeOptions::default()
            },
        )
    })
    .expect("core starts")
}

async fn initiate(op: &Client, i: usize) -> String {
    let h = ok(
        op,
        "initiate_handoff",
        json!({
            "source_agent_id": "src",
            "target_agent_id": "dst",
            "task_description": format!("task {i}"),
            "relevant_files": [format!("src/f{i}.rs")],
        }),
    )
    .await;
    h["handoff_id"].as_str().unwrap().to_string()
}

fn ids(page: &Value) -> Vec<String> {
    page["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_pending_handoffs_come_in_pages_none_repeated_or_skipped() {
    let server = server_with(core_with_room(300), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    register(&op, "src", "claude_code", "u1").await;
    let dst_token = register(&op, "dst", "claude_code", "u1").await;
    let dst = connect(&server.url, &dst_token).await;
    let mut made = Vec::new();
    for i in 0..200 {
        made.push(initiate(&op, i).await);
    }

    // The default page is 50; the target reads its own, the agent left out.
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = ok(&dst, "get_pending_handoffs", args).await;
        pages += 1;
        assert!(ids(&page).len() <= 50);
        let first = &page["handoffs"][0];
        assert_eq!(first["source_agent_id"], "src");
        assert!(
            first["task_description"]
                .as_str()
                .unwrap()
                .starts_with("task ")
        );
        got.extend(ids(&page));
        if pages == 2 {
            // Arrives while the target is half way through: it comes last, once.
            made.push(initiate(&op, 200).await);
        }
        match &page["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            Value::Null => break,
            other => panic!("next_cursor {other}"),
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(got, made);

    // The operator names the target; 500 at most, and the whole list fits.
    let all = ok(
        &op,
        "get_pending_handoffs",
        json!({"agent_id": "dst", "limit": 500}),
    )
    .await;
    assert_eq!(ids(&all), made);
    assert_eq!(all["next_cursor"], Value::Null);

    // Limits and cursors that are not the list's are refused, naming the field.
    for limit in [0, 501] {
        let e = fails(
            &dst,
            "get_pending_handoffs",
            json!({"limit": limit}),
            "invalid_input",
        )
        .await;
        assert!(
            e["error"].as_str().unwrap().starts_with("invalid limit"),
            "{e}"
        );
    }
    let foreign = ok(&dst, "get_agent_handoffs", json!({"limit": 1})).await;
    let foreign = foreign["next_cursor"].as_str().unwrap().to_string();
    for bad in ["", "nope", "pending.zz", foreign.as_str()] {
        let e = fails(
            &dst,
            "get_pending_handoffs",
            json!({"cursor": bad}),
            "invalid_input",
        )
        .await;
        assert!(
            e["error"].as_str().unwrap().starts_with("invalid cursor"),
            "{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_handoffs_page_with_the_same_cursor_rules() {
    let server = server_with(core_with_room(100), |_| {}).await;
    let op = connect(&server.url, OPERATOR).await;
    register(&op, "src", "claude_code", "u1").await;
    register(&op, "dst", "claude_code", "u1").await;
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(initiate(&op, i).await);
    }
    let mut got = Vec::new();
    let mut args = json!({"agent_id": "src", "limit": 3});
    loop {
        let page = ok(&op, "get_agent_handoffs", args.clone()).await;
        got.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => args["cursor"] = json!(c),
            None => break,
        }
    }
    assert_eq!(got, made);
}
