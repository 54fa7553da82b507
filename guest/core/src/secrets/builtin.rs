//! The project's own hand-written secret classes: the ones gitleaks lacks
//! (maas tokens, passwords in URLs, free-form `password=` assignments, bearer
//! tokens of any shape, `Authorization: Basic` credentials) or names differently (`openai-key`, `github-token`,
//! `aws-access-key`, …). Their names are stable: they predate the gitleaks
//! rules and win ties against them (see [`Builtin::rank`]).

use std::sync::LazyLock;

use regex::Regex;

use super::Span;

/// A hand-written secret class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Builtin {
    /// OpenAI key: `sk-` (incl. `sk-proj-`) followed by 20+ key characters;
    /// lower-case hyphenated slugs such as `sk-learn-pipeline-docs` are not keys.
    OpenAiKey,
    /// Anthropic key: `sk-ant-…`.
    AnthropicKey,
    /// GitHub token: `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36 alnum, or `github_pat_…`.
    GithubToken,
    /// AWS access key id: `AKIA`/`ASIA` + 16 upper-case alnum.
    AwsAccessKey,
    /// A maas agent token (`maas_` + 32 or more hex digits) or operator token
    /// (`maas_op_` + hex), or a token's 64 digits alone when their check digits hold
    /// (see [`crate::token`]).
    MaasToken,
    /// An Azure storage or Service Bus account key: the base64 value of
    /// `AccountKey=` / `SharedAccessKey=` in a connection string.
    AzureStorageKey,
    /// The password of a database or broker URL (`postgres://user:PASSWORD@host`),
    /// also with JSON-escaped slashes (`postgres:\/\/user:PASSWORD@host`).
    DatabaseUrl,
    /// The password of a URL of any other scheme (`https://user:PASSWORD@host`,
    /// `ftp://`, `ssh://`, …); placeholders such as `password` or `***` are left.
    UrlCredentials,
    /// The token of a `Bearer <token>` credential, or of `Authorization: Bearer`
    /// / `Authorization: Token` headers with shorter tokens holding a digit.
    BearerToken,
    /// The base64 `user:password` of an `Authorization: Basic` header.
    BasicAuth,
    /// A PEM private-key block (to its END line, or to the end of text).
    PrivateKey,
    /// The value of `password=`, `secret:`, `api_key=`, `X_TOKEN=`, `DB_PASS=`, …
    /// assignments.
    PasswordAssignment,
    /// A format of detect-secrets' default plugins that gitleaks finds only after a
    /// keyword or not at all, by its kind (see [`DETECT_SECRETS`]).
    Vendor(&'static str),
}

impl Builtin {
    /// Stable kebab-case name, used in `[REDACTED:<name>]` markers.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Builtin::OpenAiKey => "openai-key",
            Builtin::AnthropicKey => "anthropic-key",
            Builtin::GithubToken => "github-token",
            Builtin::AwsAccessKey => "aws-access-key",
            Builtin::MaasToken => "maas-token",
            Builtin::AzureStorageKey => "azure-storage-key",
            Builtin::DatabaseUrl => "database-url",
            Builtin::UrlCredentials => "url-credentials",
            Builtin::BearerToken => "bearer-token",
            Builtin::BasicAuth => "basic-auth",
            Builtin::PrivateKey => "private-key",
            Builtin::PasswordAssignment => "credential-assignment",
            Builtin::Vendor(kind) => kind,
        }
    }

    /// Which class names a merged span when matches overlap (lower wins); see
    /// [`super::rules::RANK_RULE`] for where the gitleaks rules sit.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Builtin::PrivateKey => 0,
            // Generic carriers: a vendor token inside them keeps its vendor's name.
            Builtin::BearerToken | Builtin::UrlCredentials => 3,
            // Below the gitleaks `curl` header rules, which name it inside `curl -H`.
            Builtin::BasicAuth | Builtin::PasswordAssignment => 4,
            _ => 1,
        }
    }
}

/// Makes every `\b` an ASCII word boundary, which the lazy DFA handles on any
/// input (a Unicode `\b` makes it bail out on non-ASCII text).
fn compile(pattern: &str) -> Option<Regex> {
    Regex::new(&pattern.replace(r"\b", r"(?-u:\b)")).ok()
}

static PRIVATE_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r"-----BEGIN (?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END [A-Z ]{0,24}PRIVATE KEY(?: BLOCK)?-----|\z)",
    )
});
static SK_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| compile(r"\bsk-[A-Za-z0-9_-]{20,}"));
static GITHUB: LazyLock<Option<Regex>> =
    LazyLock::new(|| compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"));
static AWS: LazyLock<Option<Regex>> = LazyLock::new(|| compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"));
/// A maas token: its prefix and 32 or more hex digits, whole or written in groups (at
/// least four, set apart by a space, `-`, `:` or `.`, of four to sixteen digits but the
/// first, which may be shorter and set apart from the prefix too: a token cut into
/// groups of eight with its prefix counted, `maas_1c5 7d369ac0 …`), as a token read aloud
/// or copied from a table is; the groups' digits are counted where it is found.
static MAAS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r"maas_(?:op_)?(?:[0-9A-Fa-f]{32,}|[ \-:.]?[0-9A-Fa-f]{1,16}(?:[ \-:.][0-9A-Fa-f]{4,16}){3,15})",
    )
});
/// A URL of any scheme with a password in its user-info: `scheme://user:PASSWORD@host`,
/// the slashes possibly JSON-escaped (`:\/\/`). The password runs to the last `@` before
/// a space, `/` or a character a URL cannot hold unescaped (`"`, `<`, `>`, `` ` ``), so
/// one holding an unescaped `@` goes whole.
static URL_CREDENTIALS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r#"(?i)\b(?P<s>[a-z][a-z0-9+.-]*):(?:\\?/){2}[^\s:/@"<>`]*:(?P<v>[^\s/"<>`]+)@[^\s@/\\"<>`]"#,
    )
});
/// The schemes whose URL passwords are named `database-url` (the rest `url-credentials`).
const DATABASE_SCHEMES: &[&str] = &[
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "mssql",
    "sqlserver",
    "mongodb",
    "mongodb+srv",
    "redis",
    "rediss",
    "amqp",
    "amqps",
    "cockroachdb",
    "clickhouse",
];
/// The credentials of an `Authorization` header (or a JSON/YAML key of that name):
/// `Basic <base64>`, `Bearer <token>`, `Token <token>`.
static AUTH_HEADER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r#"(?i)\bauthorization["']?[ \t]*[:=][ \t]*["']?(?P<s>basic|bearer|token)[ \t]+(?P<v>[A-Za-z0-9._~+/=-]+)"#,
    )
});
static AZURE_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(r"(?i)\b(?:AccountKey|SharedAccessKey)[ \t]*=[ \t]*(?P<v>[A-Za-z0-9+/]{40,}={0,2})")
});
static BEARER: LazyLock<Option<Regex>> =
    LazyLock::new(|| compile(r"(?i)\bbearer[ \t]+(?P<v>[A-Za-z0-9._~+/=-]{16,})"));
static ASSIGNMENT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r#"(?i)\b(?P<k>(?:[a-z0-9]+[_.-])*(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|client[_-]?secret|secret[_-]?key|private[_-]?key)|(?:[a-z0-9]+[_.-])+(?:token|pass))\b["']?[ \t]*(?::=|=>|[:=])[ \t]*(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s"'`,;&)}\]<>=][^\s"'`,;&)}\]<>]*))"#,
    )
});

/// A password given on a command line: `--password <pw>`, `--pass <pw>`, `sshpass -p
/// <pw>`, `mysql -p<pw>` (with `=` after `--password` it is an assignment). A bare
/// value needs a character other than a letter, and four characters.
static CLI_PASSWORD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r#"(?:(?:^|[\s'"`(])--(?:password|passwd|pass)[ \t]+|\bsshpass[ \t]+-p[ \t]*|\bmysql(?:dump|admin)?\b[^\n|;&]{0,80}?[ \t]-p)(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s"'`,;&)}\]<>-][^\s"'`,;&)}\]<>]*))"#,
    )
});

/// The formats of detect-secrets' default plugins (Apache-2.0, Yelp/detect-secrets,
/// `detect_secrets/plugins/`) that need no keyword there but one in gitleaks' rules, or
/// that gitleaks lacks: Discord bot tokens, Mailchimp keys, Twilio account SIDs, Square
/// OAuth secrets, TestPyPI upload tokens, SoftLayer API keys in their SOAP URL,
/// Artifactory API keys (`AKC…`) and passwords (`AP…`); Telegram bot tokens are found by
/// [`telegram_tokens`]. Each is a named group (the group's name, `_` for `-`, is the
/// kind; the secret is the group). A match must not run on into more token characters;
/// the Artifactory forms also need a digit (and the `AP` one a lower-case letter), so
/// upper-case words such as `APACHEKAFKA` are prose.
static DETECT_SECRETS: [LazyLock<Option<Regex>>; 3] = [
    // Formats with a literal prefix, which the regex engine skips to.
    LazyLock::new(|| {
        compile(concat!(
            r"\b(?P<twilio_account_sid>AC[0-9a-f]{32})\b",
            r"|\b(?P<square_oauth_secret>sq0csp-[0-9A-Za-z_-]{43})",
            r"|\b(?P<pypi_upload_token>pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{50,})",
            r"|https?://api\.softlayer\.com/soap/v3(?:\.1)?/(?P<softlayer_api_key>[a-z0-9]{64})",
            r"|\b(?P<artifactory_api_key>AKC[A-Za-z0-9]{10,})",
            r"|\b(?P<artifactory_password>AP[0-9A-F][A-Za-z0-9]{8,})",
        ))
    }),
    // Formats known by their shape, one regex each, so the engine skips to the
    // literal inside (`-us`, `.`). Telegram's, around a colon, is [`telegram_tokens`].
    LazyLock::new(|| compile(r"\b(?P<mailchimp_api_key>[0-9a-f]{32}-us[0-9]{1,2})\b")),
    LazyLock::new(|| {
        compile(
            r"\b(?P<discord_bot_token>[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27})",
        )
    }),
];

/// The kinds of [`DETECT_SECRETS`], by group name.
const DETECT_SECRETS_KINDS: &[(&str, &str)] = &[
    ("discord_bot_token", "discord-bot-token"),
    ("mailchimp_api_key", "mailchimp-api-key"),
    ("twilio_account_sid", "twilio-account-sid"),
    ("square_oauth_secret", "square-oauth-secret"),
    ("pypi_upload_token", "pypi-upload-token"),
    ("softlayer_api_key", "softlayer-api-key"),
    ("artifactory_api_key", "artifactory-api-key"),
    ("artifactory_password", "artifactory-password"),
];

/// A byte of a token: an ASCII letter or digit, `_` or `-`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Telegram bot tokens (8 to 10 digits, a colon, 35 token characters), found from each
/// colon: a regex over the whole text costs more than this check at each colon, and
/// code is full of colons. Each token's span goes to `push`.
fn telegram_tokens(text: &str, mut push: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    for (colon, _) in text.match_indices(':') {
        let before = bytes.get(..colon).unwrap_or_default();
        let digits = before
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let start = colon - digits;
        let word_before = start
            .checked_sub(1)
            .and_then(|i| bytes.get(i))
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let after = bytes.get(colon + 1..).unwrap_or_default();
        if (8..=10).contains(&digits)
            && !word_before
            && after
                .iter()
                .take(36)
                .take_while(|&&c| is_token_byte(c))
                .count()
                == 35
        {
            push(start, colon + 36);
        }
    }
}

/// Whether a [`DETECT_SECRETS`] match of `kind` from `start` to `end` in `text` stands
/// alone: no token character right after it, and the Artifactory forms random enough.
fn detect_secrets_match(text: &str, kind: &str, start: usize, end: usize) -> bool {
    if text.as_bytes().get(end).copied().is_some_and(is_token_byte) {
        return false;
    }
    let value = text.get(start..end).unwrap_or_default();
    let digit = value.bytes().any(|b| b.is_ascii_digit());
    match kind {
        "artifactory-api-key" => digit,
        "artifactory-password" => digit && value.bytes().skip(3).any(|b| b.is_ascii_lowercase()),
        _ => true,
    }
}

/// Every hand-written pattern, for the test that they all compile.
#[cfg(test)]
pub(crate) fn all_compile() -> bool {
    [
        &PRIVATE_KEY,
        &SK_KEY,
        &GITHUB,
        &AWS,
        &MAAS,
        &URL_CREDENTIALS,
        &AUTH_HEADER,
        &AZURE_KEY,
        &BEARER,
        &ASSIGNMENT,
        &CLI_PASSWORD,
    ]
    .into_iter()
    .chain(&DETECT_SECRETS)
    .all(|re| re.is_some())
}

/// A slug such as `learn-pipeline-docs`: prose, not a random credential.
fn looks_like_slug(s: &str) -> bool {
    s.contains('-') && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

fn has_word(list: &str, word: &str) -> bool {
    list.split_whitespace()
        .any(|w| w.eq_ignore_ascii_case(word))
}

/// A reference to configuration in code, `process.env.API_KEY`,
/// `os.environ.DB_PASSWORD`, `settings.secret_key`: not a value.
fn is_config_reference(v: &str) -> bool {
    const ROOTS: &str = "process env environ os config cfg conf settings self this ctx context \
        args opts options params secrets vars app";
    let mut parts = v.split('.');
    let root = parts.next().unwrap_or_default();
    let ident = |p: &str| {
        p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    has_word(ROOTS, root) && v.contains('.') && v.split('.').all(ident)
}

/// Placeholders, references and type annotations that are not secret values.
fn is_non_secret_value(v: &str) -> bool {
    const WORDS: &str = "none null nil undefined true false required optional string str bool \
        int integer number bytes option vec self secret secretstring";
    let lower = v.to_ascii_lowercase();
    v.is_empty()
        || lower.starts_with("[redacted")
        || v.starts_with(['<', '{'])
        || v.starts_with("%(")
        || v.strip_prefix('$')
            .is_some_and(|r| r.starts_with(|c: char| "{(_".contains(c) || c.is_ascii_uppercase()))
        || v.chars().all(|c| matches!(c, '*' | '.' | '•'))
        || has_word(WORDS, v)
}

/// A stand-in password in a documentation URL (`https://user:password@host`), as
/// gitleaks' `curl-auth-user` rule allows them: not worth a marker.
fn is_placeholder_password(v: &str) -> bool {
    const WORDS: &str = "password pass passwd pwd pw secret changeme changeit test token";
    has_word(WORDS, v) || (!v.is_empty() && v.bytes().all(|b| b == b'x' || b == b'X'))
}

/// Whether `v` is the base64 of `user:password`, as `Authorization: Basic` carries:
/// it decodes (standard or URL-safe alphabet, padding optional) to at least three
/// bytes with a `:` among them.
fn basic_credentials(v: &str) -> bool {
    super::base64_bytes(v).is_some_and(|bytes| bytes.len() >= 3 && bytes.contains(&b':'))
}

/// Words of which every match of a hand-written class holds one (ASCII case ignored),
/// per class in the order [`find`] runs them: `sk-`, the GitHub prefixes, `AKIA`/`ASIA`,
/// `maas_`, the `://` of a URL (or its JSON-escaped `:\/`), `AccountKey`/`SharedAccessKey`,
/// `bearer`, `authorization`, and the
/// keys of `credential-assignment` (each of its key words contains one of `passw`,
/// `pwd`, `secret`, `api`, `access`, `private`, `token`, or `pass` after `_`, `.` or
/// `-`), and the command-line forms' `--pass`, `sshpass`, `mysql` (their own class:
/// `mysql` is common in code, and the assignment rule need not run for it).
const CLASS_WORDS: &[(usize, &[&str])] = &[
    (SK, &["sk-"]),
    (GH, &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]),
    (AKIA, &["akia", "asia"]),
    (MAAS_WORD, &["maas_"]),
    (URL, &["://", ":\\/"]),
    (AZURE, &["accountkey", "sharedaccesskey"]),
    (BEARER_WORD, &["bearer"]),
    (AUTH, &["authorization"]),
    (
        ASSIGN,
        &[
            "passw", "pwd", "secret", "api", "access", "private", "token", "_pass", ".pass",
            "-pass",
        ],
    ),
    (CLI, &["--pass", "sshpass", "mysql"]),
];
const SK: usize = 0;
const GH: usize = 1;
const AKIA: usize = 2;
const MAAS_WORD: usize = 3;
const URL: usize = 4;
const AZURE: usize = 5;
const BEARER_WORD: usize = 6;
const ASSIGN: usize = 7;
const AUTH: usize = 8;
const CLI: usize = 9;
const CLASSES: usize = 10;

/// One pass finds which classes' words occur; word `i` belongs to class `owner[i]`.
struct Words {
    words: aho_corasick::AhoCorasick,
    owner: Vec<usize>,
}

static WORDS: LazyLock<Option<Words>> = LazyLock::new(|| {
    let (mut all, mut owner) = (Vec::new(), Vec::new());
    for (class, words) in CLASS_WORDS {
        for w in *words {
            all.push(*w);
            owner.push(*class);
        }
    }
    let words = aho_corasick::AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(&all)
        .ok()?;
    Some(Words { words, owner })
});

/// Which classes can match `text`. The case-insensitive patterns also match the
/// Unicode case variants of some letters (the Kelvin sign for `k`, the long s for `s`),
/// which an ASCII search does not see: text that is not all ASCII runs every class.
fn classes(text: &str) -> [bool; CLASSES] {
    let Some(w) = WORDS.as_ref().filter(|_| text.is_ascii()) else {
        return [true; CLASSES];
    };
    let mut run = [false; CLASSES];
    for m in w.words.find_overlapping_iter(text) {
        if let Some(r) = w
            .owner
            .get(m.pattern().as_usize())
            .and_then(|&c| run.get_mut(c))
        {
            *r = true;
        }
    }
    run
}

/// Appends the hand-written matches in `text` to `spans`.
pub(crate) fn find(text: &str, spans: &mut Vec<Span>) {
    find_in(text, spans, classes(text));
}

/// [`find`] running every class (for the tests: the gate skips only what cannot match).
#[cfg(test)]
pub(crate) fn find_ungated(text: &str, spans: &mut Vec<Span>) {
    find_in(text, spans, [true; CLASSES]);
}

fn find_in(text: &str, spans: &mut Vec<Span>, run: [bool; CLASSES]) {
    let on = |class: usize| run.get(class).copied().unwrap_or(true);
    let mut push = |start: usize, end: usize, class: Builtin| {
        spans.push(Span {
            start,
            end,
            kind: class.as_str(),
            rank: class.rank(),
        });
    };
    if let Some(re) = PRIVATE_KEY.as_ref()
        && text.contains("-----BEGIN")
    {
        for m in re.find_iter(text) {
            push(m.start(), m.end(), Builtin::PrivateKey);
        }
    }
    if let Some(re) = SK_KEY.as_ref().filter(|_| on(SK)) {
        for m in re.find_iter(text) {
            let key = m.as_str().trim_start_matches("sk-");
            let tail = ["ant-", "proj-", "svcacct-", "admin-"]
                .iter()
                .find_map(|p| key.strip_prefix(p))
                .unwrap_or(key);
            if !looks_like_slug(tail) {
                let class = if key.starts_with("ant-") {
                    Builtin::AnthropicKey
                } else {
                    Builtin::OpenAiKey
                };
                push(m.start(), m.end(), class);
            }
        }
    }
    for (re, class, gate) in [
        (&GITHUB, Builtin::GithubToken, GH),
        (&AWS, Builtin::AwsAccessKey, AKIA),
    ] {
        let re = re.as_ref().filter(|_| on(gate));
        for m in re.iter().flat_map(|re| re.find_iter(text)) {
            push(m.start(), m.end(), class);
        }
    }
    let maas = MAAS.as_ref().filter(|_| on(MAAS_WORD));
    for m in maas.iter().flat_map(|re| re.find_iter(text)) {
        // Grouped, it holds as many hex digits as a whole one must (the prefix's `a`s
        // are not counted).
        let body = m
            .as_str()
            .trim_start_matches("maas_")
            .trim_start_matches("op_");
        if body.bytes().filter(u8::is_ascii_hexdigit).count() >= 32 {
            push(m.start(), m.end(), Builtin::MaasToken);
        }
    }
    let urls = URL_CREDENTIALS.as_ref().filter(|_| on(URL));
    for caps in urls.iter().flat_map(|re| re.captures_iter(text)) {
        let scheme = caps.name("s").map_or("", |s| s.as_str());
        let database = DATABASE_SCHEMES
            .iter()
            .any(|d| d.eq_ignore_ascii_case(scheme));
        if let Some(v) = caps.name("v")
            && !looks_like_slug(v.as_str())
            && !is_non_secret_value(v.as_str())
        {
            if database {
                push(v.start(), v.end(), Builtin::DatabaseUrl);
            } else if !is_placeholder_password(v.as_str()) {
                push(v.start(), v.end(), Builtin::UrlCredentials);
            }
        }
    }
    let auth = AUTH_HEADER.as_ref().filter(|_| on(AUTH));
    for caps in auth.iter().flat_map(|re| re.captures_iter(text)) {
        let scheme = caps.name("s").map_or("", |s| s.as_str());
        let Some(v) = caps.name("v") else { continue };
        let value = v.as_str();
        if looks_like_slug(value) || is_non_secret_value(value) {
            continue;
        }
        let digit = value.bytes().any(|b| b.is_ascii_digit());
        if scheme.eq_ignore_ascii_case("basic") {
            if basic_credentials(value) || (value.len() >= 16 && digit) {
                push(v.start(), v.end(), Builtin::BasicAuth);
            }
        } else if value.len() >= 16 || (value.len() >= 8 && digit) {
            push(v.start(), v.end(), Builtin::BearerToken);
        }
    }
    for (re, class, gate) in [
        (&AZURE_KEY, Builtin::AzureStorageKey, AZURE),
        (&BEARER, Builtin::BearerToken, BEARER_WORD),
    ] {
        let re = re.as_ref().filter(|_| on(gate));
        for caps in re.iter().flat_map(|re| re.captures_iter(text)) {
            if let Some(v) = caps.name("v")
                && !looks_like_slug(v.as_str())
                && !is_non_secret_value(v.as_str())
            {
                push(v.start(), v.end(), class);
            }
        }
    }
    // A maas token's 64 digits without their prefix, told from a digest by their check.
    crate::token::bare_tokens(text, |start, end| push(start, end, Builtin::MaasToken));
    telegram_tokens(text, |start, end| {
        push(start, end, Builtin::Vendor("telegram-bot-api-token"));
    });
    let detect_secrets = DETECT_SECRETS.iter().filter_map(|re| re.as_ref());
    for caps in detect_secrets.flat_map(|re| re.captures_iter(text)) {
        for (group, kind) in DETECT_SECRETS_KINDS {
            if let Some(v) = caps.name(group)
                && detect_secrets_match(text, kind, v.start(), v.end())
            {
                push(v.start(), v.end(), Builtin::Vendor(kind));
            }
        }
    }
    let assignment = ASSIGNMENT.as_ref().filter(|_| on(ASSIGN));
    for caps in assignment.iter().flat_map(|re| re.captures_iter(text)) {
        let bare = caps.name("bare");
        let value = caps.name("dq").or_else(|| caps.name("sq")).or(bare);
        let key = caps.name("k").map_or("", |k| k.as_str());
        // Code: a call, an index, a path, a type with parameters (`Arc<OperatorToken>`).
        let code = bare.is_some_and(|m| {
            let b = m.as_str();
            b.contains(['(', '['])
                || b.contains("::")
                || is_config_reference(b)
                || text
                    .get(m.end()..)
                    .is_some_and(|rest| rest.starts_with('<'))
        });
        let cwd =
            key.eq_ignore_ascii_case("pwd") && value.is_some_and(|v| v.as_str().starts_with('/'));
        // `https://x-access-token:SECRET@host`: the user-info of a URL, whose password
        // the URL class takes without the host.
        let in_url = caps.name("k").is_some_and(|k| {
            text.get(..k.start()).is_some_and(|t| t.ends_with('/'))
                && bare.is_some_and(|b| b.as_str().contains('@'))
        });
        // `DB_PASS=…`, `smtp.pass: …`: a short or all-digit value there is a count
        // (`tests_pass=12`), not a password.
        let count = key.len() >= 4
            && key
                .get(key.len() - 4..)
                .is_some_and(|end| end.eq_ignore_ascii_case("pass"))
            && value.is_some_and(|v| {
                let v = v.as_str();
                v.len() < 6 || v.bytes().all(|b| b.is_ascii_digit())
            });
        if let Some(v) = value
            && !code
            && !cwd
            && !in_url
            && !count
            && !is_non_secret_value(v.as_str())
        {
            push(v.start(), v.end(), Builtin::PasswordAssignment);
        }
    }
    let cli = CLI_PASSWORD.as_ref().filter(|_| on(CLI));
    for caps in cli.iter().flat_map(|re| re.captures_iter(text)) {
        // A bare word is prose (`the --pass flag`): a bare password needs a character
        // other than a letter.
        let bare = caps
            .name("bare")
            .filter(|b| !b.as_str().bytes().all(|c| c.is_ascii_alphabetic()));
        let value = caps.name("dq").or_else(|| caps.name("sq")).or(bare);
        if let Some(v) = value
            && v.as_str().chars().count() >= 4
            && !is_non_secret_value(v.as_str())
            && !is_placeholder_password(v.as_str())
        {
            push(v.start(), v.end(), Builtin::PasswordAssignment);
        }
    }
}
