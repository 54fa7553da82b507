//! A client with rmcp's default configuration is not left hanging by a `maas serve` that
//! dies under it: the call it had in flight ends with an error soon after the kill, and
//! once the server is back on the same address the same client's next call is answered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod proc_support;

use maas_host::datadir::JOURNAL_FILE;
use proc_support::{Outcome, ServeProcess, data_dir, ok, try_call};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use std::time::Duration;

/// Far longer than a broken call needs to fail (it fails as the connection drops), far
/// shorter than forever: a liveness bound, not a measurement.
const HANG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_when_the_server_is_killed_fails_and_the_next_call_is_answered() {
    let dir = data_dir("reconnect");
    let server = ServeProcess::start(&dir, 0).await;
    let port = server.port();
    let token = std::fs::read_to_string(dir.join("operator-token")).unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone())
        .auth_header(token.trim().to_string());
    let client = ().serve(StreamableHttpClientTransport::from_config(config));
    let client = client.await.expect("a default client connects");
    let args = json!({"agent_type": "claude_code", "owner_id": "user-1", "agent_id": "before"});
    ok(&client, "register_agent", args).await;

    // Another writer holds the journal, so the next change waits inside the server until
    // it dies: its answer is certainly in flight at the kill.
    let writer = rusqlite::Connection::open(dir.join(JOURNAL_FILE)).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let peer = client.peer().clone();
    let args = json!({"agent_type": "claude_code", "owner_id": "user-1", "agent_id": "cut-off"});
    let request = CallToolRequestParams::new("register_agent")
        .with_arguments(args.as_object().unwrap().clone());
    let in_flight = tokio::spawn(async move { peer.call_tool(request).await });
    // Time for the request to reach the server, well within the journal's 10 s busy wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !in_flight.is_finished(),
        "the change did not wait for the journal"
    );

    server.kill9().await;
    writer.execute_batch("ROLLBACK").unwrap();
    drop(writer);
    let server = ServeProcess::start_on(&dir, 1, port).await;
    let answer = tokio::time::timeout(HANG, in_flight)
        .await
        .expect("the call cut off by the kill never ended")
        .unwrap();
    assert!(answer.is_err(), "a call cut off by a kill: {answer:?}");

    let seen = ok(&client, "get_agent_info", json!({"agent_id": "before"})).await;
    assert_eq!(seen["owner_id"], "user-1");
    match try_call(&client, "get_agent_info", json!({"agent_id": "cut-off"})).await {
        Outcome::Refused(code, _) => assert_eq!(code, "not_found"),
        other => panic!("the change cut off while waiting happened: {other:?}"),
    }
    let args = json!({"agent_type": "gpt_agent", "owner_id": "user-1", "agent_id": "after"});
    ok(&client, "register_agent", args).await;
    drop(client);
    server.kill9().await;
    let _ = std::fs::remove_dir_all(&dir);
}
