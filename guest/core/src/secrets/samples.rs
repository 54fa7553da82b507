// Sample credentials for tests, shared by the unit tests here and the suite's
// channel test (host/tests/secrets.rs), which `include!`s this file: it holds test
// data only and is never compiled into the core.

/// A small deterministic generator (xorshift64*), so tests need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    /// `len` characters drawn from `alphabet`.
    fn chars(&mut self, alphabet: &str, len: usize) -> String {
        let pool: Vec<char> = alphabet.chars().collect();
        (0..len)
            .map(|_| pool.get(self.below(pool.len())).copied().unwrap_or('x'))
            .collect()
    }
}

const DIGITS: &str = "0123456789";
const HEX: &str = "0123456789abcdef";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// One sample credential: the kind it must be reported as, the key that must
/// precede it for rules that need context (`None` for self-describing
/// prefixes), the whole credential, and the part that must disappear.
struct Sample {
    kind: &'static str,
    key: Option<&'static str>,
    credential: String,
    secret: String,
}

/// Fake credentials in the formats of about 50 vendors, composed at run time from a
/// seeded generator so no literal in the source looks like a leaked key.
fn samples(seed: u64) -> Vec<Sample> {
    let mut r = Rng(seed | 1);
    let mut out = Vec::new();
    let mut add = |kind, key, credential: String, secret: Option<String>| {
        let secret = secret.unwrap_or_else(|| credential.clone());
        out.push(Sample {
            kind,
            key,
            credential,
            secret,
        });
    };
    let (d12, d13) = (r.chars(DIGITS, 12), r.chars(DIGITS, 13));
    add(
        "slack-bot-token",
        None,
        format!("xox{}-{d12}-{d13}-{}", 'b', r.chars(ALNUM, 24)),
        None,
    );
    let user = format!("xox{}-{d12}-{d12}-{d13}-{}", 'p', r.chars(HEX, 32));
    add("slack-user-token", None, user, None);
    let app = format!("xapp-1-A{}-{d13}-{}", r.chars(DIGITS, 10), r.chars(HEX, 64));
    add("slack-app-token", None, app, None);
    let hook = format!(
        "T{}/B{}/{}",
        r.chars(UPPER32, 8),
        r.chars(UPPER32, 8),
        r.chars(ALNUM, 24)
    );
    add(
        "slack-webhook-url",
        None,
        format!("https://hooks.slack.com/services/{hook}"),
        None,
    );
    add(
        "stripe-access-token",
        None,
        format!("{}_live_{}", "sk", r.chars(ALNUM, 24)),
        None,
    );
    add(
        "stripe-access-token",
        None,
        format!("{}_test_{}", "rk", r.chars(ALNUM, 24)),
        None,
    );
    add(
        "gcp-api-key",
        None,
        format!("AI{}{}", "za", r.chars(ALNUM, 35)),
        None,
    );
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkZha2UifQ.{}",
        r.chars(ALNUM, 43)
    );
    add("jwt", None, jwt, None);
    let azure_ad = format!(
        "{}{}Q~{}",
        r.chars(ALNUM, 3),
        r.chars(DIGITS, 1),
        r.chars(ALNUM, 32)
    );
    add("azure-ad-client-secret", None, azure_ad, None);
    let account_key = format!("{}==", r.chars(BASE64, 86));
    let conn = format!(
        "DefaultEndpointsProtocol=https;AccountName=fakeacct;AccountKey={account_key};EndpointSuffix=core.windows.net"
    );
    add("azure-storage-key", None, conn, Some(account_key));
    let sg = format!("SG.{}.{}", r.chars(ALNUM, 22), r.chars(ALNUM, 43));
    add("sendgrid-api-token", None, sg, None);
    add(
        "npm-access-token",
        None,
        format!("npm_{}", r.chars(ALNUM, 36)),
        None,
    );
    let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", r.chars(ALNUM, 60));
    add("pypi-upload-token", None, pypi, None);
    add(
        "gitlab-pat",
        None,
        format!("glpat-{}", r.chars(ALNUM, 20)),
        None,
    );
    add(
        "gitlab-ptt",
        None,
        format!("glptt-{}", r.chars(HEX, 40)),
        None,
    );
    for (scheme, tail) in [
        ("postgres", "db.internal:5432/prod"),
        ("mysql", "10.0.0.7:3306/shop"),
        ("mongodb+srv", "cluster0.example.net/app?retryWrites=true"),
        ("redis", "cache.internal:6379/0"),
        ("amqp", "rabbit.internal:5672/vhost"),
    ] {
        let pw = r.chars(ALNUM, 18);
        add(
            "database-url",
            None,
            format!("{scheme}://app_user:{pw}@{tail}"),
            Some(pw),
        );
    }
    for (scheme, tail) in [
        ("https", "git.example.com/org/repo.git"),
        ("ftp", "files.example.com/backups/"),
    ] {
        let pw = r.chars(ALNUM, 16);
        add(
            "url-credentials",
            None,
            format!("{scheme}://deploy:{pw}@{tail}"),
            Some(pw),
        );
    }
    add(
        "maas-token",
        None,
        format!("maas_{}", r.chars(HEX, 64)),
        None,
    );
    add(
        "maas-token",
        None,
        format!("maas_op_{}", r.chars(HEX, 64)),
        None,
    );
    add(
        "aws-access-key",
        None,
        format!("AK{}{}", "IA", r.chars(UPPER32, 16)),
        None,
    );
    add(
        "github-token",
        None,
        format!("gh{}_{}", 'p', r.chars(ALNUM, 36)),
        None,
    );
    let fine = format!("github_pat_11{}_{}", r.chars(ALNUM, 20), r.chars(ALNUM, 59));
    add("github-token", None, fine, None);
    let openai = format!(
        "sk-proj-{}T3BlbkFJ{}",
        r.chars(ALNUM, 74),
        r.chars(ALNUM, 74)
    );
    add("openai-key", None, openai, None);
    let anthropic = format!("sk-ant-api03-{}AA", r.chars(ALNUM, 93));
    add("anthropic-key", None, anthropic, None);
    let body: Vec<String> = (0..4).map(|_| r.chars(BASE64, 64)).collect();
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
        body.join("\n")
    );
    add("private-key", None, pem, body.first().cloned());
    add(
        "twilio-api-key",
        None,
        format!("S{}{}", 'K', r.chars(HEX, 32)),
        None,
    );
    let mailgun = format!("key-{}", r.chars(HEX, 32));
    add(
        "mailgun-private-api-token",
        Some("MAILGUN_API_KEY"),
        mailgun,
        None,
    );
    add(
        "shopify-access-token",
        None,
        format!("shpat_{}", r.chars(HEX, 32)),
        None,
    );
    add(
        "square-access-token",
        None,
        format!("sq0atp-{}", r.chars(ALNUM, 22)),
        None,
    );
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        r.chars(HEX, 8),
        r.chars(HEX, 4),
        r.chars(HEX, 4),
        r.chars(HEX, 4),
        r.chars(HEX, 12)
    );
    add("heroku-api-key", Some("HEROKU_API_KEY"), uuid, None);
    add(
        "heroku-api-key-v2",
        None,
        format!("HRKU-AA{}", r.chars(ALNUM, 58)),
        None,
    );
    add(
        "digitalocean-pat",
        None,
        format!("dop_v1_{}", r.chars(HEX, 64)),
        None,
    );
    add(
        "huggingface-access-token",
        None,
        format!("hf_{}", r.chars(LOWER, 34)),
        None,
    );
    add(
        "discord-api-token",
        Some("DISCORD_TOKEN"),
        r.chars(HEX, 64),
        None,
    );
    let telegram = format!("{}:AA{}", r.chars(DIGITS, 10), r.chars(ALNUM, 33));
    add(
        "telegram-bot-api-token",
        Some("TELEGRAM_BOT_TOKEN"),
        telegram,
        None,
    );
    add(
        "datadog-access-token",
        Some("DATADOG_API_KEY"),
        r.chars(ALNUM, 40),
        None,
    );
    add(
        "atlassian-api-token",
        None,
        format!("ATATT3{}", r.chars(ALNUM, 186)),
        None,
    );
    add(
        "doppler-api-token",
        None,
        format!("dp.pt.{}", r.chars(ALNUM, 43)),
        None,
    );
    add(
        "linear-api-key",
        None,
        format!("lin_api_{}", r.chars(ALNUM, 40)),
        None,
    );
    let postman = format!("PMAK-{}-{}", r.chars(HEX, 24), r.chars(HEX, 34));
    add("postman-api-token", None, postman, None);
    add(
        "sentry-user-token",
        None,
        format!("sntryu_{}", r.chars(HEX, 64)),
        None,
    );
    let glsa = format!("glsa_{}_{}", r.chars(ALNUM, 32), r.chars(HEX, 8));
    add("grafana-service-account-token", None, glsa, None);
    let notion = format!("ntn_{}{}", r.chars(DIGITS, 11), r.chars(ALNUM, 35));
    add("notion-api-token", None, notion, None);
    add(
        "pulumi-api-token",
        None,
        format!("pul-{}", r.chars(HEX, 40)),
        None,
    );
    // detect-secrets' formats that gitleaks finds only after a keyword, or not at all.
    let discord = format!(
        "M{}.{}.{}",
        r.chars(ALNUM, 23),
        r.chars(ALNUM, 6),
        r.chars(ALNUM, 27)
    );
    add("discord-bot-token", None, discord, None);
    let telegram = format!("{}:{}", r.chars(DIGITS, 10), r.chars(ALNUM, 35));
    add("telegram-bot-api-token", None, telegram, None);
    let mailchimp = format!("{}-us{}", r.chars(HEX, 32), r.chars(DIGITS, 2));
    add("mailchimp-api-key", None, mailchimp, None);
    let sid = format!("AC{}", r.chars(HEX, 32));
    add("twilio-account-sid", None, sid, None);
    let square = format!("sq0csp-{}", r.chars(ALNUM, 43));
    add("square-oauth-secret", None, square, None);
    let test_pypi = format!("pypi-AgENdGVzdC5weXBpLm9yZw{}", r.chars(ALNUM, 70));
    add("pypi-upload-token", None, test_pypi, None);
    let softlayer = r.chars(HEX, 64);
    add(
        "softlayer-api-key",
        None,
        format!("https://api.softlayer.com/soap/v3/{softlayer}"),
        Some(softlayer),
    );
    let akc = format!("AKC{}7{}", r.chars(ALNUM, 10), r.chars(ALNUM, 9));
    add("artifactory-api-key", None, akc, None);
    let ap = format!("APB{}7a{}", r.chars(ALNUM, 8), r.chars(ALNUM, 4));
    add("artifactory-password", None, ap, None);
    // A Kubernetes Secret's value: the base64 of a database URL, replaced whole.
    let url = format!("postgres://app:{}@db.internal:5432/prod", r.chars(ALNUM, 16));
    add("database-url", None, base64_of(&url, true), None);
    let pass = format!("{}7{}", r.chars(ALNUM, 6), r.chars(ALNUM, 6));
    add("credential-assignment", Some("DB_PASS"), pass, None);
    out
}

/// Standard base64 of `text`, with or without padding.
fn base64_of(text: &str, padded: bool) -> String {
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for k in 0..=chunk.len() {
            let index = (n >> (18 - 6 * k) & 63) as usize;
            out.extend(BASE64.chars().nth(index));
        }
        if padded {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

/// The sample embedded in prose, in a tag-like string and in JSON.
fn embeddings(s: &Sample) -> [String; 3] {
    let c = &s.credential;
    match s.key {
        Some(key) => [
            format!("For staging we set {key}={c} last week; rotate it after the demo."),
            format!("{key}:{c}"),
            serde_json::json!({ key: c, "retries": 3 }).to_string(),
        ],
        None => [
            format!("Yesterday I pasted {c} into the wiki by mistake, please rotate it."),
            format!("leak:{c}"),
            serde_json::json!({ "note": "from the deploy log", "value": c }).to_string(),
        ],
    }
}
