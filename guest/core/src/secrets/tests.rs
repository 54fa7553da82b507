use super::*;
use std::time::Instant;

include!("samples.rs");

#[test]
fn every_shipped_rule_compiles() {
    assert!(builtin::all_compile());
    let stats = rule_stats();
    assert!(stats.shipped >= 200, "{stats:?}");
    assert_eq!(stats.skipped, Vec::<String>::new());
    assert_eq!(stats.compiled, stats.shipped);
    assert_eq!(stats.commit.len(), 40);
}

#[test]
fn rules_json_records_source_and_licence() {
    let head: serde_json::Value = serde_json::from_str(RULES_JSON).unwrap_or_default();
    let field = |k: &str| head.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    assert!(field("source").starts_with("https://github.com/gitleaks/gitleaks/"));
    assert!(field("license").starts_with("MIT License. Copyright (c) 2019 Zachary Rice."));
}

#[test]
fn every_sample_format_is_found_and_redacted_in_prose_tags_and_json() {
    let samples = samples(0x5EC2E7);
    assert!(samples.len() >= 40, "{}", samples.len());
    for s in &samples {
        for text in embeddings(s) {
            let r = redact(&text);
            assert!(
                r.kinds.iter().any(|k| k == s.kind),
                "{}: {:?} in {text}",
                s.kind,
                r.kinds
            );
            assert!(!r.text.contains(&s.secret), "{} leaked: {}", s.kind, r.text);
            assert!(
                r.text.contains(&format!("[REDACTED:{}]", s.kind)),
                "{}",
                r.text
            );
            assert!(find(&text).iter().any(|f| f.kind == s.kind), "{text}");
        }
    }
}

#[test]
fn findings_are_sorted_disjoint_byte_ranges_of_the_secret() {
    let pw = "Zq8vLk2mPw9xTr4n";
    let text = format!(
        "a é postgres://u:{pw}@h/db and {}",
        "maas_".to_string() + &"ab".repeat(32)
    );
    let found = find(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    let first = found
        .first()
        .map(|f| (f.kind.as_str(), text.get(f.start..f.end)));
    assert_eq!(first, Some(("database-url", Some(pw))));
    assert!(
        found
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.end <= b.start))
    );
    let last = found.last().and_then(|f| text.get(f.start..f.end));
    assert_eq!(last, Some(&*("maas_".to_string() + &"ab".repeat(32))));
}

#[test]
fn a_maas_token_pasted_without_its_prefix_is_redacted_and_digests_are_not() {
    let body = crate::token::body(&[0x5a; crate::token::RANDOM_BYTES]);
    let digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let text = format!("the CI token is {body}; the artifact's sha256 is {digest}");
    let r = redact(&text);
    assert!(!r.text.contains(&body), "{}", r.text);
    assert!(r.text.contains("[REDACTED:maas-token]"), "{}", r.text);
    assert!(r.text.contains(digest), "{}", r.text);
    // Upper-cased, it is still read.
    let upper = body.to_ascii_uppercase();
    assert!(!redact(&format!("token: {upper}")).text.contains(&upper));
    let ids: String = (0..1000u32)
        .map(|i| {
            format!(
                "{:064x} ",
                u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)
            )
        })
        .collect();
    assert_eq!(redact(&ids).text, ids, "other hex of the same length stays");
}

#[test]
fn database_urls_keep_user_host_and_path() {
    let pw = ["s3cr", "etPW", "d99"].concat();
    for (url, want) in [
        (
            format!("postgres://app:{pw}@db:5432/x"),
            "postgres://app:[REDACTED:database-url]@db:5432/x",
        ),
        (
            format!("redis://:{pw}@cache:6379"),
            "redis://:[REDACTED:database-url]@cache:6379",
        ),
        (
            format!("MONGODB+SRV://root:{pw}@c0.example.net/db"),
            "MONGODB+SRV://root:[REDACTED:database-url]@c0.example.net/db",
        ),
    ] {
        assert_eq!(redact(&url).text, want);
    }
    for clean in [
        "postgres://localhost/db",
        "postgres://app@db:5432/x",
        "redis://cache:6379/0",
        "mysql://${DB_USER}:${DB_PASSWORD}@db/x",
        "see https://user@example.com/page",
    ] {
        assert_eq!(find(clean), vec![], "{clean}");
    }
}

use crate::token::split;

#[test]
fn maas_tokens_need_32_hex_digits() {
    let hex = "0123456789abcdef".repeat(4);
    for token in [
        format!("maas_{hex}"),
        format!("maas_op_{hex}"),
        format!("maas_{}", &hex[..32]),
        // Written in groups.
        format!("maas_{}", split(&hex, 8, " ")),
        format!("maas_{}", split(&hex, 16, "-")),
        format!("maas_op_{}", split(&hex, 4, ":")),
        // Cut into eights with the prefix counted, or set apart from it.
        split(&format!("maas_{hex}"), 8, " "),
        format!("maas_ {}", split(&hex, 8, " ")),
        format!("maas_op_ {}", split(&hex, 8, " ")),
    ] {
        assert_eq!(
            redact(&format!("tok {token}!")).text,
            "tok [REDACTED:maas-token]!"
        );
    }
    for clean in [
        "maas_core",
        "maas_op_",
        "maas_0123abcd",
        "maas_op_xyz",
        "the maas_ prefix",
        "maas_0123 abcd is not enough",
        "maas_ 1234 5678 9abc def0 and more",
        "see maas_ dead beef cafe babe for details",
        "maas_ core 0123 4567 89ab",
    ] {
        assert_eq!(find(clean), vec![], "{clean}");
    }
}

#[test]
fn maas_token_bodies_in_groups_without_their_prefix_are_found() {
    let body = crate::token::body(&[0x5a; crate::token::RANDOM_BYTES]);
    let counted = split(&format!("maas_{body}"), 8, " ");
    for grouped in [
        split(&body, 8, " "),
        split(&body, 4, "-"),
        split(&body, 16, ":"),
        counted.trim_start_matches("maas_").to_string(),
    ] {
        let r = redact(&format!("the token is {grouped}, keep it"));
        assert_eq!(r.text, "the token is [REDACTED:maas-token], keep it");
    }
    // Other hex in groups of the same shape holds no token.
    let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_eq!(find(&split(digest, 8, " ")), vec![]);
}

#[test]
fn overlapping_matches_merge_under_the_most_specific_kind() {
    // A Slack token as the value of an assignment: one marker, vendor kind.
    let slack = format!(
        "xoxb-{}-{}-{}",
        "1".repeat(12),
        "2".repeat(12),
        "aB3dE6gH9kL2mN5pQ8sT1vW4"
    );
    let r = redact(&format!("SLACK_TOKEN={slack}"));
    assert_eq!(r.text, "SLACK_TOKEN=[REDACTED:slack-bot-token]");
    assert_eq!(r.kinds, vec!["slack-bot-token".to_string()]);
    // Both the hand-written and the gitleaks AWS rules match: the project's name wins.
    let aws = ["AKIA", "Q3EGUFTLBVXN5ZWK"].concat();
    assert_eq!(redact(&aws).kinds, vec!["aws-access-key".to_string()]);
    // A key-like word, an operator and a high-entropy value with a digit:
    // only gitleaks' generic rule knows it.
    let generic = format!(
        "{{\"client_auth\": \"{}\"}}",
        ["Xk29fLq8", "ZmT3vR7w"].concat()
    );
    assert_eq!(
        redact(&generic).text,
        "{\"client_auth\": \"[REDACTED:generic-api-key]\"}"
    );
    // A PEM block swallows everything inside it.
    let pem = "-----BEGIN PRIVATE KEY-----\npassword=abc\n-----END PRIVATE KEY-----";
    assert_eq!(redact(pem).text, "[REDACTED:private-key]");
}

#[rustfmt::skip]
const CLEAN: &[&str] = &[
    "condition=1", "File system: ext4", "task-abc", "sk-learn-pipeline-docs",
    "123e4567-e89b-12d3-a456-426614174000", "request 550e8400-e29b-41d4-a716-446655440000 failed",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b", "fixed in 9fceb02d0ae598e95dc970b74767f19372d61af8.",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "digest: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    "v1.2.3", "1.0.0-rc.1+build.5", "bump serde to 1.0.228 and regex to 1.11.1",
    "https://example.com/path?q=1&page=2", "https://github.com/org/repo/pull/42#issuecomment-1",
    "postgres://localhost/db", "aGVsbG8=", "d29ybGQ=", "dGVzdA==", "c2VjcmV0",
    "The planner agent stores design notes; the api key rotation policy is described in PR #42, \
     and every token is checked for expiry before use. Secrets live in the vault, never in memory.",
    "We discussed the password reset flow: users get a one-time link, the access token expires \
     after 15 minutes, and the refresh token after 30 days. Ask Dana before changing the keys.",
    "They keyed the cache by tenant and task; the desk asked whether the risk was acceptable.",
    "fn login(user: &str, password: &str, token: Option<Token>) -> Result<Session, AuthError> {",
    "let token = client.issue_token(&claims)?;\nlet secret = config.secret.clone();",
    "if password.len() < 12 { return Err(Error::WeakPassword); }",
    "struct Gate {\n    operator_token: Arc<OperatorToken>,\n    api_keys: HashMap<String, Vec<u8>>,\n}",
    "def authenticate(username: str, password: str, api_key: str | None = None) -> Token:",
    "    secret = os.environ.get(\"APP_SECRET\")\n    token = jwt.encode(payload, secret)",
    "const apiKey = process.env.API_KEY;\nconst token: string = await getToken(user);",
    "function login(username: string, password: string): Promise<Session> {",
    "if (token === undefined) { throw new Error('missing token'); }",
    "cache.insert(key, value);\nmap.get(&key).copied()", "for key, value in sorted(items.items()):",
    "Access-Control-Allow-Headers: Authorization, X-Api-Key", "headers: { Authorization: `Bearer ${token}` }",
    "the auth service returns 401 when the key is missing",
    "token_count: 1234567890", "api_version = \"2023-10-01\"", "key=sort_order_2",
    "{\"access\": \"read-write-admin-2024\", \"auth\": \"oauth2-client-v1\"}",
    "primary_key = user_id_42", "See keys.rs:120 and auth/mod.rs:88 for the api.",
    "the token expired at 2024-05-01T10:00:00Z (ttl=3600s)", "ssh-keygen -t ed25519 -C dev@example.com",
    "",
];

#[test]
fn ordinary_text_ids_hashes_and_code_stay_clean() {
    for text in CLEAN {
        assert_eq!(find(text), vec![], "false positive: {text:?}");
        assert_eq!(redact(text).text, *text);
        assert!(redact(text).kinds.is_empty());
    }
}

#[test]
fn redaction_is_idempotent_and_never_keeps_the_secret() {
    const WORDS: &[&str] = &[
        "the",
        "token",
        "key",
        "=",
        ":",
        "password",
        "\"",
        "'",
        "[",
        "]",
        "{",
        "}",
        ",",
        ";",
        "\n",
        "api_key",
        "Bearer",
        "secret:",
        "x",
        "42",
        "é",
        "REDACTED",
        "-----BEGIN",
        "sk-",
        "maas_",
        "postgres://",
        "@",
        "export",
        "AKIA",
        "ey",
        "jira",
        ".",
        "/",
        "=>",
        "%3D",
        "%20",
        "%",
        "https://",
        ":\\/\\/",
        "Authorization: Basic",
    ];
    let mut rng = Rng(0x00DD_BA11);
    for seed in 0..150u64 {
        let samples = samples(seed.wrapping_mul(7919).wrapping_add(3));
        let mut parts: Vec<String> = Vec::new();
        let mut secrets = Vec::new();
        for _ in 0..(3 + rng.below(12)) {
            if rng.below(4) == 0
                && let Some(s) = samples.get(rng.below(samples.len()))
            {
                let mut three = Vec::from(embeddings(s));
                // Vendor formats end at a delimiter; glued to the next word
                // they are a different string, so keep one around them.
                parts.push(format!(" {} ", three.swap_remove(rng.below(3))));
                secrets.push(s.secret.clone());
            } else {
                let word = WORDS.get(rng.below(WORDS.len())).copied().unwrap_or("x");
                parts.push(word.to_string());
            }
        }
        let sep = [" ", "", "\n"].get(rng.below(3)).copied().unwrap_or(" ");
        let text = parts.join(sep);
        let once = redact(&text);
        assert_eq!(
            redact(&once.text).text,
            once.text,
            "not idempotent: {text:?}"
        );
        for secret in &secrets {
            assert!(
                !once.text.contains(secret.as_str()),
                "kept {secret:?} in {:?}",
                once.text
            );
        }
        assert_eq!(once.kinds.is_empty(), once.text == text);
    }
}

#[test]
fn pathological_inputs_finish() {
    let inputs: Vec<String> = [
        "xoxb-",
        "AKIA",
        "-----BEGIN",
        "maas_",
        "sk-",
        "ey",
        "eyJ",
        "ghp_",
        "postgres://a:",
        "password=",
        "SG.",
        "key=",
        "curl -H ",
        "Bearer ",
        "jira:",
        "a3t",
        "s.",
        "%41",
        "%3D%",
        "&#x",
        "&#115;",
        "\\u00",
        "\\x2d",
        "\u{200B}",
        "\u{E0061}",
        "https://a:",
        "ftp:\\/\\/a:b@",
        "Authorization: Basic ",
    ]
    .iter()
    .map(|p| p.repeat((1 << 20) / p.len()))
    .chain([
        "-----BEGIN PRIVATE KEY-----\n".repeat(40_000),
        "é".repeat(1 << 19),
    ])
    .collect();
    for text in &inputs {
        let start = Instant::now();
        let r = redact(text);
        assert!(r.text.len() <= text.len() * 8 + 64);
        assert!(
            start.elapsed().as_secs() < 60,
            "too slow: {:?}",
            text.get(..12)
        );
    }
}

/// `cargo test -p maas-core --release -- --ignored --nocapture secrets_timing`
#[test]
#[ignore = "timing report, not an assertion"]
fn secrets_timing() {
    let start = Instant::now();
    let _ = redact("");
    let parse = start.elapsed();
    let start = Instant::now();
    let stats = rule_stats();
    let compile = start.elapsed();
    println!(
        "rules: {} shipped, {} compiled, {} skipped; parse {:.1} ms, compile all {:.1} ms",
        stats.shipped,
        stats.compiled,
        stats.skipped.len(),
        parse.as_secs_f64() * 1e3,
        compile.as_secs_f64() * 1e3
    );
    let prose = "The planner agent stores design notes; see PR #42 for the login api. \
        Yesterday the team agreed to rotate the keys monthly and to keep secrets out of memory. \
        They asked whether the task queue should retry, and the answer was yes, three times. ";
    let code = "fn login(user: &str, password: &str) -> Result<Token, Error> {\n    \
        let key = derive_key(&config.salt, password)?;\n    let token = issue(&key, user);\n    \
        cache.insert(user.to_string(), token.clone());\n    Ok(token)\n}\n";
    let leaky = samples(9)
        .iter()
        .map(|s| embeddings(s).join(" "))
        .collect::<Vec<_>>()
        .join("\n");
    // The same prose URL-encoded, as in a query string: scanned twice.
    let encoded = prose.replace(' ', "%20").replace(';', "%3B");
    for (name, unit) in [
        ("prose", prose),
        ("encoded", encoded.as_str()),
        ("code", code),
        ("secrets", leaky.as_str()),
    ] {
        let text = unit.repeat((64 << 10) / unit.len() + 1);
        let kb = text.len() as f64 / 1024.0;
        let runs = 50;
        let start = Instant::now();
        let n: usize = (0..runs).map(|_| redact(&text).kinds.len()).sum();
        let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs) / kb;
        println!(
            "redact {name:8} {kb:6.1} KB {us:8.2} µs/KB ({} kinds)",
            n / runs as usize
        );
        let start = Instant::now();
        for _ in 0..runs {
            let mut spans = Vec::new();
            builtin::find(&text, &mut spans);
        }
        let builtin_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs) / kb;
        let start = Instant::now();
        let hits: usize = (0..runs)
            .map(|_| {
                RULES
                    .prefilter
                    .as_ref()
                    .map_or(0, |ac| ac.find_overlapping_iter(&text).count())
            })
            .sum();
        let ac_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs) / kb;
        println!(
            "       of which hand-written {builtin_us:.2} µs/KB, keyword pass {ac_us:.2} µs/KB ({} hits)",
            hits / runs as usize
        );
    }
}

/// The hand-written classes' word gate skips only classes that cannot match: over the
/// samples in every embedding, the clean texts, and texts spelling the keys in other
/// cases or with the Unicode case variants the patterns accept, the gated and ungated
/// matches are the same.
#[test]
fn the_builtin_word_gate_skips_only_classes_that_cannot_match() {
    let raw = |text: &str, gated: bool| -> Vec<(usize, usize, &'static str)> {
        let mut spans = Vec::new();
        if gated {
            builtin::find(text, &mut spans);
        } else {
            builtin::find_ungated(text, &mut spans);
        }
        spans
            .into_iter()
            .map(|s| (s.start, s.end, s.kind))
            .collect()
    };
    let mut texts: Vec<String> = CLEAN.iter().map(|t| t.to_string()).collect();
    for seed in [0x5EC2E7, 7, 11] {
        for s in samples(seed) {
            texts.extend(embeddings(&s));
            texts.push(s.credential.to_uppercase());
            texts.push(s.credential.to_lowercase());
        }
    }
    let value = "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0";
    for key in [
        "PASSWORD",
        "PassWd",
        "db_pwd",
        "Client-Secret",
        "API_KEY",
        "apikey",
        "AccessKey",
        "PRIVATE_KEY",
        "session.token",
        "\u{212A}ey",
    ] {
        texts.push(format!("{key} = {value}"));
        texts.push(format!("set {key}: \"{value}\" now"));
    }
    texts.push(format!("pa\u{17F}\u{17F}word={value}"));
    texts.push(format!("api_\u{212A}ey={value}"));
    texts.push(format!("Authorization: BEARER {value}"));
    texts.push(format!(
        "DefaultEndpointsProtocol=https;ACCOUNTKEY={value}{value}"
    ));
    texts.push(format!("POSTGRES://app:{value}@db/x"));
    texts.push(format!("HTTPS:\\/\\/app:{value}@host\\/x"));
    texts.push(format!("ftp://app:{value}@files/"));
    texts.push(format!("AUTHORIZATION: BASIC {value}"));
    texts.push(format!("{{\"authorization\": \"Token {value}\"}}"));
    texts.push("note 5: the session cache uses redis with key userSession_5".to_string());
    for text in &texts {
        assert_eq!(raw(text, true), raw(text, false), "{text}");
    }
}

/// Asserts `text` loses `secret` and gains one `[REDACTED:kind]`, and that a second
/// redaction changes nothing.
fn assert_redacted(text: &str, secret: &str, kind: &str) {
    let r = redact(text);
    assert!(
        !r.text.contains(secret),
        "{kind} kept {secret:?}: {}",
        r.text
    );
    assert!(
        r.text.contains(&format!("[REDACTED:{kind}]")),
        "{kind} missing: {} (kinds {:?})",
        r.text,
        r.kinds
    );
    assert!(r.kinds.iter().any(|k| k == kind), "{:?}", r.kinds);
    assert_eq!(redact(&r.text).text, r.text, "not idempotent: {text}");
}

#[test]
fn passwords_in_urls_of_any_scheme_are_redacted() {
    let pw = ["Xq7hun", "ter2Zp9"].concat();
    for (url, want) in [
        (
            format!("git clone https://deploy:{pw}@git.example.com/org/repo.git"),
            "git clone https://deploy:[REDACTED:url-credentials]@git.example.com/org/repo.git",
        ),
        (
            format!("ftp://backup:{pw}@files.example.com/"),
            "ftp://backup:[REDACTED:url-credentials]@files.example.com/",
        ),
        (
            format!("ssh://user:{pw}@host"),
            "ssh://user:[REDACTED:url-credentials]@host",
        ),
        (
            format!("HTTP://:{pw}@proxy.internal:3128"),
            "HTTP://:[REDACTED:url-credentials]@proxy.internal:3128",
        ),
        (
            format!("jdbc:postgresql://app:{pw}@db/x"),
            "jdbc:postgresql://app:[REDACTED:database-url]@db/x",
        ),
        // The password ends at the `@` before the host, not at a later one in the JSON.
        (
            format!(r#"{{"url":"https://u:{pw}@h","mail":"x@y"}}"#),
            r#"{"url":"https://u:[REDACTED:url-credentials]@h","mail":"x@y"}"#,
        ),
        // A token as the password keeps its vendor's name, and the host stays.
        (
            format!(
                "https://x-access-token:{}@github.com/o/r",
                ["ghp_", &"aB3d".repeat(9)].concat()
            ),
            "https://x-access-token:[REDACTED:github-token]@github.com/o/r",
        ),
    ] {
        assert_eq!(redact(&url).text, want);
    }
    for (text, secret) in [
        (
            "ftp://backup:S3cretPass99@files.example.com/",
            "S3cretPass99",
        ),
        ("ssh://user:pw123456@host", "pw123456"),
        ("proxy http://u:p@ss-w0rd@proxy:8080 ok", "p@ss-w0rd"),
    ] {
        assert_redacted(text, secret, "url-credentials");
    }
    for clean in [
        "git@github.com:org/repo.git",
        "mailto:a@b.c",
        "https://user@host",
        "http://host:8080/path",
        "http://host:8080/path?from=a@b.c",
        "https://example.com/@scope/pkg",
        "write to dev.ops+alerts@example.com",
        "a:b@c in prose",
        "https://user:password@host/docs",
        "https://user:${TOKEN}@host",
        "https://user:<password>@host",
        "https://user:****@host",
        "ssh://git@github.com:22/org/repo.git",
    ] {
        assert_eq!(find(clean), vec![], "false positive: {clean}");
    }
}

#[test]
fn database_urls_with_json_escaped_slashes_are_redacted() {
    let pw = ["Xq7hun", "ter2Zp9"].concat();
    let text = format!(r#"{{"dsn":"postgres:\/\/app:{pw}@db:5432\/prod"}}"#);
    assert_eq!(
        redact(&text).text,
        r#"{"dsn":"postgres:\/\/app:[REDACTED:database-url]@db:5432\/prod"}"#
    );
    let text = format!(r#"{{"url":"https:\/\/deploy:{pw}@git.example.com\/r.git"}}"#);
    assert_redacted(&text, &pw, "url-credentials");
    assert_eq!(find(r#"{"u":"https:\/\/example.com\/a@b"}"#), vec![]);
}

#[test]
fn authorization_headers_are_redacted_bare_and_in_curl() {
    // base64("admin:secretpass")
    let basic = "YWRtaW46c2VjcmV0cGFzcw==";
    for text in [
        format!("Authorization: Basic {basic}"),
        format!("proxy-authorization:basic {basic}\n"),
        format!("{{\"Authorization\": \"Basic {basic}\"}}"),
    ] {
        assert_redacted(&text, basic, "basic-auth");
    }
    assert_eq!(
        redact(&format!("Authorization: Basic {basic}")).text,
        "Authorization: Basic [REDACTED:basic-auth]"
    );
    // Inside `curl -H` gitleaks' rule keeps naming it.
    let curl = format!("curl -H 'Authorization: Basic {basic}' https://api.example.com");
    assert_redacted(&curl, basic, "curl-auth-header");
    // Bearer and Token headers: short tokens with a digit too.
    for (text, token) in [
        ("Authorization: Bearer ab12cd34ef", "ab12cd34ef"),
        ("authorization: token 9f8e7d6c5b", "9f8e7d6c5b"),
        (
            "Authorization: Bearer Zk3mQ9xL2vR8wT5yP1nB",
            "Zk3mQ9xL2vR8wT5yP1nB",
        ),
    ] {
        assert_redacted(text, token, "bearer-token");
    }
    for clean in [
        "Authorization: Basic realm=\"api\"",
        "Authorization: Basic authentication over TLS",
        "Authorization: Basic <credentials>",
        "Authorization: Bearer ${TOKEN}",
        "Authorization: Bearer token",
        "the Authorization: Basic header carries base64(user:pass)",
    ] {
        assert_eq!(find(clean), vec![], "false positive: {clean}");
    }
}

#[test]
fn keys_glued_by_url_encoding_are_redacted() {
    let gcp = ["AIzaSyD-9tSrke72", "PouQMnMX-a7eZSW0jkFMBWY"].concat();
    let stripe = ["sk_live_", "4eC39HqLyjWDarjtT1zdp7dc"].concat();
    let jwt = [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0",
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ]
    .concat();
    assert_redacted(
        &format!("GET /maps?key%3D{gcp}%26q%3Dx"),
        &gcp,
        "gcp-api-key",
    );
    assert_redacted(
        &format!("q=stripe%20{stripe}"),
        &stripe,
        "stripe-access-token",
    );
    let r = redact(&format!("h=Authorization%3A%20Bearer%20{jwt}"));
    assert!(!r.text.contains(&jwt), "{}", r.text);
    assert!(
        r.text
            .starts_with("h=Authorization%3A%20Bearer%20[REDACTED:")
    );
    // A URL-encoded DSN: the encoded password goes, escapes around it stay.
    let pw = ["Xq7hun", "ter2Zp9"].concat();
    let text = format!("dsn=postgres%3A%2F%2Fapp%3A{pw}%40db%2Fprod");
    assert_eq!(
        redact(&text).text,
        "dsn=postgres%3A%2F%2Fapp%3A[REDACTED:database-url]%40db%2Fprod"
    );
    // An escape inside the secret is replaced with it.
    let text = format!("password%3D{}%2B{}", &pw[..6], &pw[6..]);
    assert_eq!(
        redact(&text).text,
        "password%3D[REDACTED:credential-assignment]"
    );
    // Escapes of non-ASCII bytes stay encoded; text without secrets is unchanged.
    for clean in [
        "caf%C3%A9 menu",
        "progress 100%",
        "50%off",
        "https://example.com/search?q=a%20b%26c%3Dd",
        "%zz%4",
        "%",
    ] {
        assert_eq!(find(clean), vec![], "false positive: {clean}");
    }
}

#[test]
fn detect_secrets_shapes_must_hold_whole() {
    let mut r = Rng(0xD5EC);
    let tail = r.chars(ALNUM, 35);
    let discord = |last: usize, r: &mut Rng| {
        format!(
            "M{}.{}.{}",
            r.chars(ALNUM, 23),
            r.chars(ALNUM, 6),
            r.chars(ALNUM, last)
        )
    };
    let prose = [
        "APACHEKAFKA and APDEVELOPMENT are words; AP1234567890 is an invoice".to_string(),
        "the AKCHUALLYNOTAKEY shout".to_string(),
        format!("v1234567890:{tail}"),
        format!("1234567:{tail}"),
        format!("1234567890:{tail}X"),
        format!("1234567890:{}", r.chars(ALNUM, 34)),
        discord(28, &mut r),
        format!("{}-user", r.chars(HEX, 32)),
        format!("AC{}", r.chars(HEX, 31)),
    ];
    for text in &prose {
        assert_eq!(kinds(text), Vec::<String>::new(), "{text}");
    }
    let token = discord(27, &mut r);
    assert_eq!(kinds(&format!("bot={token}")), ["discord-bot-token"]);
    let telegram = format!("1234567890:{tail}");
    assert_eq!(
        kinds(&format!("(bot {telegram})")),
        ["telegram-bot-api-token"]
    );
}

#[test]
fn base64_that_decodes_to_a_secret_is_redacted_whole() {
    // A Kubernetes Secret's data: base64 of a database URL with its password, and of a
    // maas token; the plain values stay out of the source.
    let url = format!("postgres://admin:{}@db.example.com:5432/app", "S3cr3tP4ss");
    let token = format!("maas_{}", "9f2c".repeat(16));
    for (value, kind) in [
        (url.as_str(), "database-url"),
        (token.as_str(), "maas-token"),
    ] {
        for encoded in [base64_of(value, false), base64_of(value, true)] {
            let manifest = format!("data:\n  VALUE: {encoded}\n  PLAIN: ZGV2ZWxvcG1lbnQ=\n");
            let r = redact(&manifest);
            assert_eq!(r.kinds, vec![kind.to_string()], "{manifest}");
            assert_eq!(
                r.text,
                format!("data:\n  VALUE: [REDACTED:{kind}]\n  PLAIN: ZGV2ZWxvcG1lbnQ=\n")
            );
        }
    }
    // Base64 of ordinary text, digests and long words are left alone.
    for text in [
        format!(
            "config: {}",
            base64_of("replicas: 3, image tag v1.2.3, region eu-west-1", true)
        ),
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_string(),
        "AbstractSingletonProxyFactoryBeanDefinitionReader".to_string(),
    ] {
        assert_eq!(redact(&text).text, text);
    }
}

#[test]
fn a_pass_variable_holds_a_password_unless_it_is_a_count() {
    let password = format!("S3cr3t{}", "P4ss9");
    for (text, kept) in [
        (format!("export DB_PASS={password}"), "export DB_PASS="),
        (format!("smtp.pass: \"{password}\""), "smtp.pass: \""),
        (format!("REDIS-PASS='{password}'"), "REDIS-PASS='"),
    ] {
        let r = redact(&text);
        assert_eq!(r.kinds, vec!["credential-assignment".to_string()], "{text}");
        assert!(
            r.text.starts_with(kept) && !r.text.contains(&password),
            "{}",
            r.text
        );
    }
    for text in [
        "tests_pass=12 tests_fail=0",
        "lint_pass: true",
        "first_pass=yes",
        "compass=north",
        "bypass=on",
    ] {
        assert_eq!(redact(text).text, text);
    }
}

#[test]
fn a_password_on_a_command_line_is_redacted() {
    let password = format!("S3cr3t{}", "P4ss9");
    for text in [
        format!("sshpass -p '{password}' ssh deploy@host"),
        format!("sshpass -p {password} scp a b"),
        format!("mysql -u root -p{password} shop"),
        format!("mysqldump -h db -p\"{password}\" app > dump.sql"),
        format!("vault login --password {password}"),
        format!("tool --pass \"{password}\""),
    ] {
        let r = redact(&text);
        assert_eq!(r.kinds, vec!["credential-assignment".to_string()], "{text}");
        assert!(!r.text.contains(&password), "{}", r.text);
    }
    for text in [
        "mysql -u root -p shop",
        "sshpass -p password ssh host",
        "pass --password <password> on the command line",
        "cli --password-file /run/secrets/db",
        "mysql -p $MYSQL_PASSWORD",
        "the --pass flag is deprecated",
    ] {
        assert_eq!(redact(text).text, text);
    }
}

/// `secret` with its middle character disguised: a zero-width space or a soft
/// hyphen before it, or the character written as an escape or HTML reference.
fn disguises(secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    let mid = chars.len() / 2;
    let (head, tail) = chars.split_at(mid);
    let head: String = head.iter().collect();
    let Some((&c, rest)) = tail.split_first() else {
        return Vec::new();
    };
    let rest: String = rest.iter().collect();
    let code = u32::from(c);
    [
        format!("\u{200B}{c}"),
        format!("\u{AD}{c}"),
        format!("{c}\u{2060}"),
        format!("\\u{code:04x}"),
        format!("\\x{code:02X}"),
        format!("&#{code};"),
        format!("&#x{code:x};"),
        format!("%{code:02X}"),
        format!("\\u200b{c}"),
        format!("\\u00AD{c}"),
        format!("&#8203;{c}"),
        format!("&shy;{c}"),
        format!("%E2%80%8B{c}"),
        format!("<wbr>{c}"),
    ]
    .into_iter()
    .map(|mid| format!("{head}{mid}{rest}"))
    .collect()
}

#[test]
fn disguised_secrets_are_redacted_whole() {
    for s in &samples(0xD15_6015E) {
        for disguised in disguises(&s.secret) {
            let credential = s.credential.replace(&s.secret, &disguised);
            let text = match s.key {
                Some(key) => format!("For staging we set {key}={credential} last week."),
                None => format!("Yesterday I pasted {credential} into the wiki."),
            };
            let r = redact(&text);
            // Named by the sample's kind or, where a rule matches part of the
            // disguised text as it stands, by that rule's; redacted whole either way.
            assert!(!r.kinds.is_empty(), "{}: nothing in {text:?}", s.kind);
            let secret: Vec<char> = s.secret.chars().collect();
            for piece in secret.windows(8) {
                let piece: String = piece.iter().collect();
                assert!(
                    !r.text.contains(&piece),
                    "{} kept {piece:?}: {:?}",
                    s.kind,
                    r.text
                );
            }
            assert_eq!(redact(&r.text).text, r.text, "not idempotent: {text:?}");
        }
    }
    // A token in fullwidth forms, and one spelled in invisible tag characters.
    let aws = ["AKIA", "QZ4X7M2K9B3N5V8T"].concat();
    let wide: String = aws
        .chars()
        .filter_map(|c| char::from_u32(0xFEE0 + u32::from(c)))
        .collect();
    let r = redact(&format!("key {wide} here"));
    assert_eq!(r.kinds, vec!["aws-access-key".to_string()], "{:?}", r.text);
    assert!(!r.text.contains(&wide));
    let token = ["ghp_", "R8m2Kq9ZtW4xLp7Vn3Hs6Jd1Fb5Gc0Ye8Ua2"].concat();
    let tags: String = token
        .chars()
        .filter_map(|c| char::from_u32(0xE0000 + u32::from(c)))
        .collect();
    let r = redact(&format!("see \u{1F3F4}{tags} above"));
    assert_eq!(r.kinds, vec!["github-token".to_string()], "{:?}", r.text);
    assert!(!r.text.contains(&tags));
}

#[test]
fn text_with_escapes_and_hidden_characters_but_no_secret_is_unchanged() {
    for clean in [
        "caf&eacute; &amp; bar &lt;b&gt; &#8212; &#x1F600; &#;",
        "C:\\xampp\\htdocs and \\u{200B} and \\uZZZZ and \\x",
        "fn f(s: &str) -> &'static str { \"\\u00e9\\n\" }",
        "a\u{200D}b \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} \u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}",
        "\u{FEFF}title with a BOM, soft\u{AD}hyphen, \u{202E}reversed\u{202C}",
        "&#115;&#107;&#45; is sk- and &#x70;assword is a word",
        "%",
        "&",
        "\\",
        "&#99999999999999999999;",
        "long<wbr>word&shy;break and %E2%80%8B and \\u200b and &#8203; and %C3%A9",
        "\u{FF26}\u{FF55}\u{FF4C}\u{FF4C}\u{FF57}\u{FF49}\u{FF44}\u{FF54}\u{FF48} text \u{FF11}\u{FF12}\u{FF13}",
    ] {
        assert_eq!(find(clean), vec![], "false positive: {clean:?}");
        assert_eq!(redact(clean).text, clean);
    }
}

#[test]
fn hex_encoded_secrets_are_redacted_whole() {
    // Not the Kubernetes sample: base64 inside hex is two levels.
    for s in samples(0x4E7_D0C5)
        .iter()
        .filter(|s| s.kind != "database-url" || s.credential.contains("://"))
    {
        let plain = match s.key {
            Some(key) => format!("{key}={}", s.credential),
            None => format!("leak: {} ", s.credential),
        };
        let hex: String = plain.bytes().map(|b| format!("{b:02x}")).collect();
        for text in [
            format!("request dump {hex} end"),
            format!("bytes: 0x{}", hex.to_uppercase()),
        ] {
            let r = redact(&text);
            assert!(!r.kinds.is_empty(), "{}: nothing in {text:?}", s.kind);
            assert!(
                !r.text.to_lowercase().contains(&hex),
                "{}: {:?}",
                s.kind,
                r.text
            );
        }
    }
    // Digests, ids and hex text without a secret stay.
    for clean in [
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "commit 3166dd7c1a8c2b9f0e4d5a6b7c8d9e0f1a2b3c4d",
        "0x48656c6c6f2c20776f726c642120546869732069732066696e652e",
    ] {
        assert_eq!(find(clean), vec![], "false positive: {clean}");
    }
}

#[test]
fn secrets_wrapped_onto_the_next_lines_are_redacted_whole() {
    let jwt = [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ",
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ]
    .concat();
    let ghp = ["ghp_", "R8m2Kq9ZtW4xLp7Vn3Hs6Jd1Fb5Gc0Ye8Ua2"].concat();
    for (secret, width) in [(&jwt, 64), (&jwt, 80), (&ghp, 48), (&jwt, 40), (&jwt, 76)] {
        for newline in ["\n", "\r\n"] {
            let text = format!(
                "Token from the deploy log, please rotate it: Authorization: Bearer {secret}"
            );
            // Wrapped as a terminal of `width` columns would.
            let wrapped: Vec<String> = text
                .as_bytes()
                .chunks(width)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            let text = format!("{}{newline}Thanks{newline}", wrapped.join(newline));
            let r = redact(&text);
            assert!(!r.kinds.is_empty(), "{text:?}");
            let pieces: Vec<&str> = wrapped.iter().map(String::as_str).collect();
            for piece in pieces.iter().filter(|p| secret.contains(**p)) {
                assert!(!r.text.contains(piece), "kept {piece:?}: {:?}", r.text);
            }
            assert!(
                r.text.ends_with(&format!("{newline}Thanks{newline}")),
                "{:?}",
                r.text
            );
            assert_eq!(redact(&r.text).text, r.text);
        }
    }
    // A short line, or a word, a list item or indented text on the next line, are not
    // taken.
    for clean_tail in [
        format!(
            "key {}\nnext-step-9 was run",
            ["AKIA", "QZ4X7M2K9B3N5V8T"].concat()
        ),
        format!("a line that is long enough to wrap at forty: {ghp}\nDone"),
        format!("a line that is long enough to wrap at forty: {ghp}\n- next step"),
        format!("a line that is long enough to wrap at forty: {ghp}\n  then v2.1"),
    ] {
        let r = redact(&clean_tail);
        let tail = clean_tail.rsplit('\n').next().unwrap_or_default();
        assert!(r.text.ends_with(tail), "{:?}", r.text);
    }
}

#[test]
fn base64_wrapped_at_76_columns_is_decoded_whole() {
    let ghp = ["ghp_", "R8m2Kq9ZtW4xLp7Vn3Hs6Jd1Fb5Gc0Ye8Ua2"].concat();
    let env = format!(
        "# staging\nAPP_NAME=billing-service-staging\nLOG_LEVEL=debug\nGITHUB_TOKEN={ghp}\nREGION=eu-west-1\n"
    );
    let encoded = base64_of(&env, true);
    for width in [64, 76] {
        for newline in ["\n", "\r\n"] {
            let lines: Vec<&str> = encoded
                .as_bytes()
                .chunks(width)
                .filter_map(|c| std::str::from_utf8(c).ok())
                .collect();
            let text = format!(
                "the .env, as `base64` printed it:{newline}{}",
                lines.join(newline)
            );
            let r = redact(&text);
            assert!(
                r.kinds.iter().any(|k| k == "github-token"),
                "{width}: {:?}",
                r.text
            );
            for line in &lines {
                assert!(!r.text.contains(line), "{width}: kept {line:?}");
            }
        }
    }
}

#[test]
fn secrets_encoded_twice_or_as_utf16_are_read() {
    let ghp = ["ghp_", "R8m2Kq9ZtW4xLp7Vn3Hs6Jd1Fb5Gc0Ye8Ua2"].concat();
    let escaped: String = ghp.bytes().map(|b| format!("%{b:02X}")).collect();
    let utf16: String = format!("$env:GITHUB_TOKEN='{ghp}'")
        .chars()
        .flat_map(|c| [c, '\u{0}'])
        .collect();
    for (name, text) in [
        (
            "twice",
            base64_of(&base64_of(&format!("token {ghp}"), true), true),
        ),
        ("escaped", base64_of(&format!("t={escaped}"), true)),
        ("utf-16", base64_of(&utf16, true)),
        ("url-encoded twice", escaped.replace('%', "%25")),
    ] {
        let text = format!("ran: powershell -EncodedCommand {text} ok");
        let r = redact(&text);
        assert_eq!(
            r.kinds,
            vec!["github-token".to_string()],
            "{name}: {:?}",
            r.text
        );
        assert_eq!(
            r.text,
            "ran: powershell -EncodedCommand [REDACTED:github-token] ok"
        );
    }
}

#[test]
fn findings_in_disguised_text_fall_on_character_boundaries() {
    let samples = samples(0xB0DA);
    let pieces = [
        "\u{200B}",
        "\u{AD}",
        "\u{FF47}",
        "\u{FF48}",
        "\u{E0067}",
        "é",
        "\n",
        "\r\n",
        "%",
        "%E2%80%8B",
        "%41",
        "\\u200b",
        "\\u0041",
        "\\x41",
        "&#8203;",
        "&#65;",
        "&amp;",
        "<wbr>",
        "&shy;",
        "key=",
        " ",
        "Bearer ",
        "ghp_",
        "AKIA",
        "日本",
    ];
    let mut rng = Rng(0xFEED_5EC5);
    for _ in 0..400 {
        let mut text = String::new();
        for _ in 0..(2 + rng.below(30)) {
            match rng.below(3) {
                0 => {
                    let s = samples.get(rng.below(samples.len())).map(|s| &s.secret);
                    text.push_str(s.map_or("", String::as_str));
                }
                _ => text.push_str(pieces.get(rng.below(pieces.len())).copied().unwrap_or("")),
            }
        }
        for f in find(&text) {
            assert!(
                f.start < f.end
                    && f.end <= text.len()
                    && text.is_char_boundary(f.start)
                    && text.is_char_boundary(f.end),
                "{f:?} in {text:?}"
            );
        }
        let r = redact(&text);
        assert_eq!(redact(&r.text).text, r.text, "not idempotent: {text:?}");
    }
}

/// `bytes` in the forms tools print hex for people to read, by name.
fn hex_for_people(bytes: &[u8]) -> Vec<(&'static str, String)> {
    let hex = |b: &u8| format!("{b:02x}");
    let join = |chunk: &[u8], sep: &str| chunk.iter().map(hex).collect::<Vec<_>>().join(sep);
    let shown = |chunk: &[u8]| -> String {
        chunk
            .iter()
            .map(|&b| match b {
                b' '..=b'~' => char::from(b),
                _ => '.',
            })
            .collect()
    };
    let lines = |width: usize, line: &dyn Fn(usize, &[u8]) -> String, sep: &str| {
        bytes
            .chunks(width)
            .enumerate()
            .map(|(n, chunk)| line(n * width, chunk))
            .collect::<Vec<_>>()
            .join(sep)
    };
    let xxd = |at: usize, chunk: &[u8]| {
        let words: Vec<String> = chunk.chunks(2).map(|w| join(w, "")).collect();
        format!("{at:08x}: {:<40} {}", words.join(" "), shown(chunk))
    };
    let hexdump = |at: usize, chunk: &[u8]| {
        let (low, high) = chunk.split_at(chunk.len().min(8));
        let halves = format!("{:<23}  {:<23}", join(low, " "), join(high, " "));
        format!("{at:08x}  {halves}  |{}|", shown(chunk))
    };
    let wireshark =
        |at: usize, chunk: &[u8]| format!("{at:04x}   {:<47}   {}", join(chunk, " "), shown(chunk));
    let od = |_: usize, chunk: &[u8]| chunk.iter().map(|b| format!(" {b:02x}")).collect();
    // `od -x`, `hexdump` and `hexdump -x` print 16-bit words, each word's bytes swapped
    // on a little-endian machine (a lone last byte padded with zero); `od` counts its
    // offsets in octal.
    let words = |chunk: &[u8], sep: &str| {
        let swapped: Vec<String> = chunk
            .chunks(2)
            .map(|w| match w {
                [a, b] => format!("{b:02x}{a:02x}"),
                [a] => format!("00{a:02x}"),
                _ => String::new(),
            })
            .collect();
        swapped.join(sep)
    };
    let od_x = |at: usize, chunk: &[u8]| format!("{at:07o} {}", words(chunk, " "));
    let hexdump_words = |at: usize, chunk: &[u8]| format!("{at:07x} {}", words(chunk, " "));
    let hexdump_x = |at: usize, chunk: &[u8]| format!("{at:07x}    {}", words(chunk, "    "));
    let od_t_x1 = |at: usize, chunk: &[u8]| format!("{at:07o} {}", join(chunk, " "));
    let c_array = |_: usize, chunk: &[u8]| {
        let items: Vec<String> = chunk.iter().map(|b| format!("0x{b:02x}")).collect();
        format!("  {}", items.join(", "))
    };
    vec![
        ("colons", join(bytes, ":")),
        ("spaces", join(bytes, " ")),
        ("capitals", join(bytes, ":").to_uppercase()),
        (
            "c-inline",
            bytes
                .iter()
                .map(|b| format!("0x{b:02x}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("xxd", lines(16, &xxd, "\n")),
        ("xxd-crlf", lines(16, &xxd, "\r\n")),
        ("hexdump-c", lines(16, &hexdump, "\n")),
        ("wireshark", lines(16, &wireshark, "\n")),
        ("od", lines(16, &od, "\n")),
        ("od-x", lines(16, &od_x, "\n")),
        ("hexdump", lines(16, &hexdump_words, "\n")),
        ("hexdump-x", lines(16, &hexdump_x, "\n")),
        ("od-t-x1", lines(16, &od_t_x1, "\n")),
        ("xxd-i", lines(12, &c_array, ",\n")),
    ]
}

#[test]
fn hex_written_for_people_is_redacted_whole() {
    for s in samples(0x4E7_D0C6)
        .iter()
        .filter(|s| s.kind != "database-url" || s.credential.contains("://"))
    {
        let plain = match s.key {
            Some(key) => format!("{key}={}\n", s.credential),
            None => format!("Authorization: token {}\n", s.credential),
        };
        for (form, hex) in hex_for_people(plain.as_bytes()) {
            let text = format!("A dump of the request:\n{hex}\nIt failed.");
            let r = redact(&text);
            assert_eq!(r.kinds.len(), 1, "{} as {form}: {text}\n{}", s.kind, r.text);
            let placeholder = format!("[REDACTED:{}]", r.kinds.concat());
            let indent = &hex[..hex.len() - hex.trim_start().len()];
            assert_eq!(
                r.text,
                format!("A dump of the request:\n{indent}{placeholder}\nIt failed."),
                "{} as {form}",
                s.kind
            );
        }
    }
    // What `od -x`, `hexdump -x` and `od -t x1` printed for `token=` and a made-up GitHub
    // token on a little-endian machine, with the offset each prints last.
    for dump in [
        "0000000 6f74 656b 3d6e 6867 5f70 3852 326d 714b\n\
         0000020 5a39 5774 7834 704c 5637 336e 7348 4a36\n\
         0000040 3164 6246 4735 3063 6559 5538 3261 000a\n\
         0000057",
        "0000000    6f74    656b    3d6e    6867    5f70    3852    326d    714b\n\
         0000010    5a39    5774    7834    704c    5637    336e    7348    4a36\n\
         0000020    3164    6246    4735    3063    6559    5538    3261    000a\n\
         000002f",
        "0000000 74 6f 6b 65 6e 3d 67 68 70 5f 52 38 6d 32 4b 71\n\
         0000020 39 5a 74 57 34 78 4c 70 37 56 6e 33 48 73 36 4a\n\
         0000040 64 31 46 62 35 47 63 30 59 65 38 55 61 32 0a\n\
         0000057",
    ] {
        let r = redact(dump);
        let last = dump.rsplit('\n').next().unwrap_or_default();
        assert_eq!(r.text, format!("[REDACTED:github-token]\n{last}"), "{dump}");
    }
    // A token among the binary headers of a packet, dumped.
    let mut packet = vec![0x45, 0x00, 0x01, 0x2c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06];
    packet.extend(b"GET / HTTP/1.1\r\nAuthorization: Bearer ");
    packet.extend(
        ["ghp_", "R8m2Kq9ZtW4xLp7Vn3Hs6Jd1Fb5Gc0Ye8Ua2"]
            .concat()
            .bytes(),
    );
    packet.extend(b"\r\n\r\n\xff\xfe");
    for (form, hex) in hex_for_people(&packet) {
        let r = redact(&hex);
        assert!(
            r.text.trim_start().starts_with("[REDACTED:"),
            "{form}: {}",
            r.text
        );
        assert!(!r.text.contains('\n'), "{form}: {}", r.text);
    }
}

#[test]
fn hex_written_for_people_without_secrets_stays() {
    let mut texts: Vec<String> = [
        "MD5 fingerprint 16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48:16:27:ac:a5",
        "SHA1 Fingerprint=A8:98:5D:3A:65:E5:E5:C4:B2:D7:D6:6D:40:C6:DD:2F:B1:9C:54:36",
        "mac 00:1a:2b:3c:4d:5e, ipv6 fe80::1ff:fe23:4567:890a",
        "2024  12 05 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25",
        "a9 be ef 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 01 02",
    ]
    .map(String::from)
    .to_vec();
    for plain in [
        "This is a fine text file.\nIt says nothing secret, at length, over lines.\n".as_bytes(),
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00\x01\x00\x00\x00",
    ] {
        texts.extend(hex_for_people(plain).into_iter().map(|(_, hex)| hex));
    }
    for clean in texts {
        assert_eq!(find(&clean), vec![], "false positive: {clean}");
        assert_eq!(redact(&clean).text, clean);
    }
}

#[test]
fn lines_that_only_look_like_a_dump_leave_their_encoded_secrets_to_be_found() {
    // A date and numbers at the start of each line read like a dump's offset and bytes,
    // but the "offsets" do not move on by the bytes of a line: the encoded secrets on
    // and after such lines are still found.
    let secret =
        crate::text::base64_encode(&["postgres://user:", "hunter2@db.example.com/app"].concat());
    let days = |line: &dyn Fn(usize) -> String| (10..18).map(line).collect::<Vec<_>>().join("\n");
    for (text, expected) in [
        (
            days(&|d| format!("2024 01 {d} backup ok")) + &format!("\n2024 01 18 DB={secret}"),
            1,
        ),
        (days(&|d| format!("2024 01 {d} DB={secret}")), 8),
        (days(&|d| format!("2024  01 {d} DB={secret}")), 8),
    ] {
        let r = redact(&text);
        assert_eq!(
            r.text.matches("[REDACTED:database-url]").count(),
            expected,
            "{}",
            r.text
        );
    }
}

#[test]
fn utf16_text_in_a_dump_of_words_is_read() {
    // `token=` and a made-up GitHub token as UTF-16LE, dumped by `hexdump` (16-bit words,
    // each word's bytes swapped on a little-endian machine).
    let text = ["token=ghp_", "R8m2Kq9ZtW4xLp7Vn3Hs6Jd1Fb5Gc0Ye8Ua2\n"].concat();
    let utf16: Vec<u8> = text.bytes().flat_map(|b| [b, 0]).collect();
    let dump = hex_for_people(&utf16)
        .into_iter()
        .find(|(form, _)| *form == "hexdump")
        .map(|(_, dump)| dump)
        .unwrap_or_default();
    let r = redact(&dump);
    assert_eq!(r.text, "[REDACTED:github-token]", "{dump}");
}

/// The line of `text` holding `start..end`, found afresh.
fn line_around(text: &str, start: usize, end: usize) -> (usize, usize) {
    let from = text
        .get(..start)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let to = text
        .get(end..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| end + i);
    (from, to)
}

#[test]
fn lines_found_as_candidates_come_are_the_lines_found_afresh() {
    let mut r = Rng(0x5eed);
    for round in 0..300 {
        // Short and long lines, empty ones, a text without a newline.
        let text: String = (0..r.below(400))
            .map(|_| match r.below(if round % 7 == 0 { 1 } else { 12 }) {
                0 => 'x',
                1 => '\n',
                _ => 'a',
            })
            .collect();
        let mut lines = Lines::new(&text);
        let mut at = 0;
        while at <= text.len() {
            // Candidates in order, some empty, some spanning lines, some back to back.
            let start = at + r.below(20).min(text.len() - at);
            let end = start + r.below(30).min(text.len() - start);
            assert_eq!(
                lines.of(start, end),
                line_around(&text, start, end),
                "{text:?} at {start}..{end}"
            );
            at = if r.below(4) == 0 { end } else { end + 1 };
        }
    }
}

#[test]
fn the_generic_rules_allowlists_hold_for_every_candidate_of_a_line() {
    let value = ["Xk29fLq8", "ZmT3vR7w"].concat();
    let other = ["Pq47wZx2", "Lm8vRt3k"].concat();
    // A line the rule's line allowlist excuses (a Docker secret mount): every
    // candidate on it passes; the same candidates on the next line do not.
    let line = format!("client_auth={value} client_auth={other}");
    let text = format!("RUN --mount=type=secret,id=x {line}\n{line}");
    assert_eq!(
        redact(&text).text,
        format!(
            "RUN --mount=type=secret,id=x {line}\nclient_auth=[REDACTED:generic-api-key] client_auth=[REDACTED:generic-api-key]"
        )
    );
    // A stopword in the secret, in any case, excuses it wherever it stands.
    for word in ["about", "ABOUT", "AbOuT"] {
        let excused = format!("token={word}Xk29fLq8");
        assert_eq!(find(&excused), vec![], "{excused}");
    }
}
