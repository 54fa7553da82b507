//! What every list operation that pages shares: the answer's `next_cursor` as JSON and
//! as the line a terminal shows under the table.

use serde_json::{Value, json};

/// `{key: items, "next_cursor": cursor or null}`: the list under the name it always had,
/// and where the next page starts.
pub fn json_page(key: &str, items: Vec<Value>, next_cursor: &Option<String>) -> Value {
    let mut out = serde_json::Map::new();
    out.insert(key.to_string(), Value::Array(items));
    out.insert("next_cursor".into(), json!(next_cursor));
    Value::Object(out)
}

/// `table`, and when there is a next page, a last line with the cursor to ask for it
/// with (`--cursor`).
pub fn text_page(mut table: String, next_cursor: &Option<String>) -> String {
    if let Some(c) = next_cursor {
        if !table.is_empty() && !table.ends_with('\n') {
            table.push('\n');
        }
        table.push_str("next_cursor: ");
        table.push_str(c);
        table.push('\n');
    }
    table
}
