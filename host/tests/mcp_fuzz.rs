//! A seeded fuzzer over every MCP tool: each tool's input schema (as the server lists it)
//! is filled with values of the right type and of every wrong one, edge strings (empty,
//! 100,000 characters, control and bidi characters, other agents' ids, JSON, paths) and
//! missing or extra fields, as the operator and as an agent. Every answer must be a
//! result or a typed error — a tool error with a known code, or a JSON-RPC
//! invalid-params error — and the server must keep answering. `MAAS_FUZZ_SEED` replays a
//! run, `MAAS_FUZZ_CALLS` sets the calls per tool and caller (default 25).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;

use mcp_support::*;
use rmcp::model::CallToolRequestParams;
use serde_json::{Map, Value, json};

/// The error codes a tool may answer with.
const CODES: &[&str] = &[
    "not_found",
    "permission_denied",
    "capacity_exceeded",
    "invalid_input",
    "conflict",
    "expired",
    "rate_limited",
];

/// xorshift64*: a seeded generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Strings worth trying in any text field (`nested`: inside a list or object, where
/// 100,000 characters times 300 items would only test the 4 MiB body limit).
fn strings(rng: &mut Rng, nested: bool) -> String {
    let fixed = [
        "",
        " ",
        "a",
        "fz-a",
        "fz-b",
        "operator",
        "claude_code",
        "memory_read",
        "project",
        "global",
        "fact",
        "{}",
        "{\"a\": [1, 2, {\"b\": null}]}",
        "[1,2",
        "../../etc/passwd",
        "a\u{0}b",
        "\u{1b}[31mred\u{1b}[0m",
        "\u{202e}evil\u{202c}",
        "ignore all previous instructions",
        "' OR 1=1 --",
        "<script>alert(1)</script>",
        "maas_0000000000000000000000000000000000000000000000000000000000000000",
        "AKIAIOSFODNN7EXAMPLE",
        "-1",
        "18446744073709551616",
        "😀👩‍💻",
        "e\u{301}\u{302}\u{303}",
    ];
    match rng.below(10) {
        0 if !nested => "x".repeat(100_000),
        1 => "id-".repeat(rng.below(60) + 1),
        2 => (0..rng.below(40))
            .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'))
            .collect(),
        _ => rng.pick(&fixed).to_string(),
    }
}

/// A value of the schema's type, or of any other.
fn value(rng: &mut Rng, schema: &Value, depth: u32) -> Value {
    let wrong = rng.below(5) == 0;
    let types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => vec!["string".into()],
    };
    let all = [
        "string", "integer", "number", "boolean", "null", "array", "object",
    ];
    let t = if wrong || types.is_empty() {
        rng.pick(&all).to_string()
    } else {
        rng.pick(&types).clone()
    };
    match t.as_str() {
        "string" => Value::String(strings(rng, depth > 0)),
        "integer" => {
            json!(*rng.pick(&[0i64, 1, -1, 2, 100, 1000, i64::MAX, i64::MIN, 4_294_967_296]))
        }
        "number" => json!(*rng.pick(&[0.5f64, -1.0, 1e308, 3.0])),
        "boolean" => json!(rng.below(2) == 0),
        "array" if depth < 3 => {
            let items = if schema["items"].is_object() {
                schema["items"].clone()
            } else {
                json!({})
            };
            let n = *rng.pick(&[0usize, 1, 2, 5, 300]);
            Value::Array((0..n).map(|_| value(rng, &items, depth + 1)).collect())
        }
        "object" if depth < 3 => {
            let mut m = Map::new();
            for i in 0..rng.below(4) {
                m.insert(format!("k{i}"), value(rng, &json!({}), depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Null,
    }
}

/// Arguments for a tool: each declared property present (usually), missing, or wrong,
/// sometimes with an undeclared one.
fn arguments(rng: &mut Rng, schema: &Value) -> Map<String, Value> {
    let mut args = Map::new();
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            if rng.below(8) != 0 {
                let prop = resolve(schema, prop);
                args.insert(name.clone(), value(rng, &prop, 0));
            }
        }
    }
    if rng.below(10) == 0 {
        args.insert("unexpected".into(), value(rng, &json!({}), 0));
    }
    args
}

/// A property schema with a local `$ref` (schemars puts nested types in `$defs`) followed.
fn resolve(root: &Value, prop: &Value) -> Value {
    let reference = prop["$ref"]
        .as_str()
        .or_else(|| prop["allOf"][0]["$ref"].as_str());
    match reference.and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => root["$defs"][name].clone(),
        None => prop.clone(),
    }
}

async fn fuzz(client: &Client, rng: &mut Rng, calls: usize, who: &str) -> (usize, usize) {
    let tools = client.list_all_tools().await.expect("tools are listed");
    assert!(tools.len() >= 30, "{} tools", tools.len());
    let (mut answered, mut refused) = (0, 0);
    for tool in &tools {
        let schema = Value::Object((*tool.input_schema).clone());
        for _ in 0..calls {
            let args = arguments(rng, &schema);
            let shown = Value::Object(args.clone()).to_string();
            let shown: String = shown.chars().take(300).collect();
            let result = client
                .call_tool(CallToolRequestParams::new(tool.name.to_string()).with_arguments(args))
                .await;
            match result {
                Ok(r) if r.is_error.unwrap_or(false) => {
                    let b = body(&r);
                    let code = b["code"].as_str().unwrap_or_default();
                    assert!(
                        CODES.contains(&code),
                        "{who} {}({shown}): untyped error {b}",
                        tool.name
                    );
                    let text = b["error"].as_str().unwrap_or_default();
                    assert!(
                        !text.is_empty() && text.len() < 4096,
                        "{who} {}({shown}): error of {} bytes: {}",
                        tool.name,
                        text.len(),
                        text.chars().take(300).collect::<String>()
                    );
                    refused += 1;
                }
                Ok(_) => answered += 1,
                // The agent's own call revoked its identity (unregister_agent on itself):
                // every later request is refused as unauthenticated, as it should be.
                Err(e) if e.to_string().contains("Auth required") && who == "agent" => {
                    return (answered, refused + 1);
                }
                Err(e) => {
                    let text = e.to_string();
                    assert!(
                        text.contains("-32602") || text.to_lowercase().contains("invalid"),
                        "{who} {}({shown}): {text}",
                        tool.name
                    );
                    refused += 1;
                }
            }
        }
    }
    (answered, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_answers_fuzzed_arguments_with_a_result_or_a_typed_error() {
    let seed = std::env::var("MAAS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f022_u64);
    let calls = std::env::var("MAAS_FUZZ_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    eprintln!("MAAS_FUZZ_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let mut server = server().await;
    let op = connect(&server.url, OPERATOR).await;
    let token = register(&op, "fz-a", "human", "fz-u1").await;
    register(&op, "fz-b", "claude_code", "fz-u2").await;
    let agent = connect(&server.url, &token).await;

    let (a2, r2) = fuzz(&agent, &mut rng, calls, "agent").await;
    let (a1, r1) = fuzz(&op, &mut rng, calls, "operator").await;
    eprintln!("answered {} refused {}", a1 + a2, r1 + r2);
    assert!(a1 + a2 > 0 && r1 + r2 > 0);

    // Still serving, and a new agent works as before.
    ok(&op, "whoami", json!({})).await;
    let token = register(&op, "fz-after", "claude_code", "fz-u3").await;
    let after = connect(&server.url, &token).await;
    let me = ok(&after, "whoami", json!({})).await;
    assert_eq!(me["agent_id"], "fz-after");
    drop(after);
    drop((op, agent));
    server.shut_down().await;
}
