//! Defences for shared agent memory against *poisoning* and *extraction*.
//!
//! * Poisoning: [`threats`] / [`is_suspicious`] classify text carrying SQL,
//!   script (HTML/JS) or prompt injection; [`sanitize`] neutralises markup,
//!   ASCII control characters and chat-role markers.
//! * Extraction: [`secrets`] / [`redact_secrets`] find and mask credentials
//!   (delegating to [`crate::secrets`], gitleaks' rule set plus our own);
//!   [`analyze_query`] scores a search query for injection, bulk extraction and
//!   secret probing.
//!
//! Every function is total (no panics) and linear in the input: all patterns
//! are `regex` crate automata, with no backtracking. Every `\b` is compiled as
//! an ASCII boundary `(?-u:\b)` so the lazy DFA stays usable on non-ASCII
//! text. Detection is heuristic and tuned against false positives on ordinary
//! prose and code; treat it as a signal, not a proof. The patterns compile on
//! first use (tens of milliseconds, once per process).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{LazyLock, OnceLock};

use regex::{Captures, Regex};

/// An injection pattern class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Threat {
    /// SQL tautologies, `UNION SELECT`, stacked destructive statements,
    /// quote-then-comment, `xp_cmdshell`, time-based probes.
    SqlInjection,
    /// Script tags, `javascript:` URLs, event-handler attributes, active
    /// embeds, `data:text/html`, cookie theft / string breakout.
    ScriptInjection,
    /// Instruction overrides, jailbreak personas, system-prompt exfiltration
    /// and injected chat-role markers.
    PromptInjection,
}

impl Threat {
    /// Stable kebab-case name, e.g. `"sql-injection"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Threat::SqlInjection => "sql-injection",
            Threat::ScriptInjection => "script-injection",
            Threat::PromptInjection => "prompt-injection",
        }
    }
}

/// Risk assessment of a search query, from [`analyze_query`].
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAnalysis {
    /// Risk in `0.0..=1.0`; any single reason gives at least 0.6, no reason 0.0.
    pub score: f64,
    /// Why, in a fixed order: `"sql-injection"`, `"script-injection"`,
    /// `"prompt-injection"`, `"bulk-extraction"`, `"secret-probe"`.
    pub reasons: Vec<&'static str>,
}

// Patterns shared by detection (`threats`) and neutralisation (`sanitize`).
const TAG_ANY_CASE: &str =
    r"(?i)(?P<pre>^|[^\w])<(?P<rest>/?(?:script|iframe|object|embed|frameset|frame|applet)\b)";
const TAG_SCRIPT_LOWER: &str = r"<(?P<rest>/?script\b)";
const HANDLER_TAG: &str = r#"(?i)<(?P<rest>[a-z][a-z0-9-]*(?:[\s/"'`]+[^\s<>=/"'`]+(?:\s*=\s*(?:"[^"]*|'[^']*|`[^`]*|[^\s<>"'`]+))?)*[\s/"'`]+(?:on[a-z]{3,}\s*=\s*[^\s{=]|(?-i:on[a-z]{3,})\s*=\s*\{))"#;
const SCHEME_CTX: &str =
    r#"(?i)(?P<pre>[=("'`]\s*)?\b(?P<name>java[\t\r\n]*script|vbscript|livescript)\s*:"#;
const DATA_HTML: &str =
    r"(?i)\bdata:\s*(?P<mime>text/html|text/javascript|application/(?:x-)?javascript)";
const ROLE_TOKEN: &str =
    r"(?i)<\|(?P<a>[a-z0-9_]{1,40})\|>|<｜(?P<b>[\w▁]{1,40})｜>|\[(?P<c>/?INST)\]|<<(?P<d>/?SYS)>>";
const ROLE_HEADER: &str =
    r"(?im)^(?P<i>[ \t]*)(?P<r>#{1,6}[ \t]*(?:system|instructions?|assistant)[ \t]*:)";
const ROLE_TURN: &str = r"(?im)^(?P<i>[ \t]*)(?:(?P<r>system[ \t]*:)(?P<t>[ \t]*(?:you|ignore|disregard|forget)\b)|(?P<r2>assistant[ \t]*:)(?P<t2>[ \t]*(?:you\s+(?:must|will|shall|should)|ignore|disregard|forget|i\s+will\s+now)\b))";

use Threat::{PromptInjection as Prompt, ScriptInjection as Script, SqlInjection as Sql};

/// Detection table (every `\b` becomes ASCII, see [`ascii_b`]).
#[rustfmt::skip]
const THREAT_PATTERNS: &[(Threat, &str)] = &[
    // Tautology between literals: `' OR 1=1`, `' OR '1'='1`, `" or ""="`.
    (Sql, r#"(?i)\b(?:or|and)(?:\s+\d+|\s*'[^'\n]{0,32}'|\s*"[^"\n]{0,32}")\s*(?:=|<>|!=)\s*(?:\d+|'[^'\n]{0,32}'?|"[^"\n]{0,32}"?)"#),
    (Sql, r"(?i)'\s*\)*\s*or\s+(?:true|not\s+false)\b"),
    (Sql, r"(?i)\bunion(?:\s|\+|%20|/\*.*?\*/)+(?:all(?:\s|\+|%20|/\*.*?\*/)+)?select\b"),
    // Stacked destructive statement: `x; DROP TABLE t`, `; DELETE FROM t`.
    (Sql, r"(?i);[ \t]*(?:drop\s+(?:table|database|schema|view|user|procedure|function|trigger)\b|delete\s+from\b|truncate\s+table\b|shutdown\s*(?:;|--|#|$))"),
    // Quote breakout followed by any statement: `'; INSERT INTO …`.
    (Sql, r#"(?i)['"]\s*\)*\s*;\s*(?:select\s+(?:[^;\n]{0,80}?\bfrom\b|@@|\d|\*|user\(|version\()|insert\s+into\b|update\s+\w+\s+set\b|delete\s+from\b|drop\s+\w|exec(?:ute)?\s+\w|declare\s+@|(?:create|alter)\s+(?:table|user|login|database)\b|truncate\s|shutdown\b|waitfor\s+delay\b)"#),
    // Quote closed then comment: `admin'--`, `x')#`, `a'/*`.
    (Sql, r"\w'\)*(?:--|#|/\*)(?:\s|;|$)"),
    (Sql, r"(?i)\bxp_cmdshell\b|\bexec(?:ute)?\s+(?:master\.\.)?(?:xp_\w+|sp_(?:configure|oacreate|oamethod|makewebtask|executesql|addlogin|addsrvrolemember|password)\b)"),
    // Time-based blind probes.
    (Sql, r#"(?i)(?:['")]\s*|\b(?:or|and|select)\s+|;\s*)(?:sleep|pg_sleep)\s*\(\s*\d|\bpg_sleep\s*\(|\bwaitfor\s+delay\s+'|\bbenchmark\s*\(\s*\d{5,}\s*,"#),
    (Sql, r"(?i)\bload_file\s*\(|\binto\s+(?:outfile|dumpfile)\s+'"),
    (Script, TAG_ANY_CASE),
    (Script, TAG_SCRIPT_LOWER),
    (Script, HANDLER_TAG),
    (Script, r#"(?i)[=("'`]\s*(?:java[\t\r\n]*script|vbscript|livescript)\s*:|\b(?:java[\t\r\n]*script|vbscript|livescript)\s*:\S"#),
    (Script, DATA_HTML),
    (Script, r#"(?i)\b(?:eval|alert|prompt|confirm|settimeout|function)\s*\(\s*(?:document\.(?:cookie|domain)|atob\s*\(|string\.fromcharcode|unescape\s*\(|decodeuricomponent\s*\()|['"`]\s*\+\s*document\.cookie\b|['"];\s*(?:alert|eval|prompt|confirm)\s*\("#),
    (Prompt, r"(?i)\bignore\s+(?:[\w'’,-]+\s+){0,4}(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial)\s+(?:[\w'’-]+\s+){0,3}(?:instructions?|prompts?|rules|directions?|directives?|guidelines|guidance|constraints)\b|\bignore\s+(?:all\s+(?:of\s+)?)?(?:your|the\s+system)\s+(?:\w+\s+)?(?:instructions|prompts?|programming|guidelines|directives)\b"),
    (Prompt, r"(?i)\bignore\s+(?:all|any|every)\s+(?:of\s+)?(?:the\s+|your\s+|my\s+)?(?:instructions|prompts|guidelines|directives)\b|\bignore\s+(?:everything|anything)\s+(?:above|before|previously|prior|you\s+(?:were|have\s+been)\s+told)\b"),
    (Prompt, r"(?i)\bdisregard\s+(?:[\w'’,-]+\s+){0,3}(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|all|any|your|system)\s+(?:[\w'’-]+\s+){0,3}(?:instructions?|prompts?|rules|directions?|directives?|guidelines|guidance|programming|training|constraints)\b|\bdisregard\s+(?:everything|anything|all)\s+(?:above|before|prior|previously)\b"),
    (Prompt, r"(?i)\bforget\s+(?:everything|all|anything)\s+(?:(?:that\s+)?you(?:\s+were|\s+have\s+been|'ve\s+been|’ve\s+been)\s+(?:told|taught|given|instructed)|above|before|prior|previously|so\s+far)\b|\bforget\s+(?:all\s+)?(?:(?:your|the)\s+)?(?:previous|prior|earlier|above|original|initial)\s+(?:instructions|guidelines|prompts?)\b|\bforget\s+(?:all\s+)?your\s+(?:instructions|rules|guidelines|training|programming)\b"),
    (Prompt, r"(?i)\byou(?:\s+are|'re|’re)\s+now\s+(?:dan\b|an?\s+(?:unrestricted|unfiltered|uncensored|jailbroken|unaligned|evil|rogue)\b|in\s+(?:developer|dev|god|jailbreak|jailbroken|unrestricted|dan)\s+mode\b|(?:jailbroken|unrestricted|unfiltered|uncensored|unchained)\b|(?:free|freed)\s+from\b|no\s+longer\s+(?:bound|restricted|limited|constrained|an?\s+(?:ai|assistant))\b)"),
    (Prompt, r"(?i)\bact\s+as\s+(?:if\s+you\s+(?:have|had|were\s+under|are\s+under)\s+no\s+(?:restrictions|rules|limits|limitations|filters|guidelines|constraints|censorship)|an?\s+(?:unrestricted|unfiltered|uncensored|jailbroken|unaligned)|dan)\b|\bpretend\s+(?:that\s+)?(?:you\s+are|you're|to\s+be)\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken|dan)\b|\b(?:enable|enter|activate)\s+(?:god|jailbreak|dan|unrestricted)\s+mode\b|\bdo\s+anything\s+now\b|\b(?:you\s+are|you're|you’re)\s+(?:now\s+)?(?-i:DAN)\b"),
    (Prompt, r"(?i)\bnew\s+(?:system\s+)?instructions\s*:|\boverride\s+(?:your|all\s+(?:previous|prior))\s+(?:\w+\s+)?(?:instructions|rules|guidelines|restrictions|programming)\b"),
    // System-prompt exfiltration.
    (Prompt, r"(?i)\b(?:reveal|print|show|display|output|repeat|leak|dump|disclose|expose|recite|tell\s+me|give\s+me|write\s+out|spell\s+out)\s+(?:me\s+|us\s+)?your\s+(?:(?:full|entire|complete|original|exact|whole|hidden|initial|secret|verbatim)\s+)*(?:system\s+(?:prompt|message|instructions)|(?:initial|hidden|original|secret)\s+(?:prompt|instructions)|instructions|prompt)\b"),
    (Prompt, r"(?i)\b(?:reveal|leak|disclose|expose|recite|repeat)\s+(?:the|its)\s+(?:(?:full|entire|complete|original|exact|whole|hidden|initial|secret|verbatim)\s+)*(?:system\s+(?:prompt|message)|(?:initial|hidden|secret)\s+(?:prompt|instructions))\b|\b(?:repeat|print|output|recite)\s+(?:everything|all(?:\s+the)?\s+text|the\s+(?:text|words))\s+(?:above|before)\b|\bwhat\s+(?:is|are|were)\s+your\s+(?:\w+\s+)?(?:system\s+prompt|instructions)\b"),
    (Prompt, ROLE_TOKEN),
    (Prompt, ROLE_HEADER),
    (Prompt, ROLE_TURN),
];

/// Makes every `\b` an ASCII word boundary, which the lazy DFA handles on any
/// input (a Unicode `\b` makes it bail out on non-ASCII text), and every `\w` an
/// ASCII word character (see [`ascii_words`]).
fn ascii_b(pattern: &str) -> String {
    ascii_words(&pattern.replace(r"\b", r"(?-u:\b)"))
}

/// `pattern` as it behaves on ASCII text, for automata that only ever see ASCII. A
/// pattern written in ASCII is parsed with Unicode off: `\w`, `\s`, `\d`, `\b` and
/// case take their ASCII meanings, which agree with the Unicode ones on ASCII
/// characters, and a class such as `[^\n]` becomes one byte range instead of a UTF-8
/// automaton (once per repetition of a bounded gap); the bytes above 0x7F it then
/// holds never occur in an ASCII haystack. Any other pattern is parsed as usual and
/// narrowed: classes to their ASCII members, literals with a non-ASCII character
/// dropped (that branch cannot match), word boundaries made ASCII ones. On a haystack
/// of ASCII characters the result matches exactly where `pattern` does, and it is not
/// meant for any other. `None` if `pattern` does not parse.
pub(crate) fn ascii_variant(pattern: &str) -> Option<regex_syntax::hir::Hir> {
    let parse = |unicode: bool| {
        regex_syntax::ParserBuilder::new()
            .unicode(unicode)
            .utf8(false)
            .build()
            .parse(pattern)
            .ok()
    };
    if pattern.is_ascii()
        && let Some(hir) = parse(false)
    {
        return Some(hir);
    }
    Some(ascii_hir(&parse(true)?))
}

fn ascii_hir(hir: &regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{
        Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
        Repetition,
    };
    match hir.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) if lit.0.is_ascii() => Hir::literal(lit.0.clone()),
        HirKind::Literal(_) => Hir::fail(),
        HirKind::Class(Class::Unicode(c)) => {
            let mut c = c.clone();
            c.intersect(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7f')]));
            Hir::class(Class::Unicode(c))
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut c = c.clone();
            c.intersect(&ClassBytes::new([ClassBytesRange::new(0, 0x7f)]));
            Hir::class(Class::Bytes(c))
        }
        HirKind::Look(look) => Hir::look(ascii_look(*look)),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(ascii_hir(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(ascii_hir(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(ascii_hir).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(ascii_hir).collect()),
    }
}

fn ascii_look(look: regex_syntax::hir::Look) -> regex_syntax::hir::Look {
    use regex_syntax::hir::Look;
    match look {
        Look::WordUnicode => Look::WordAscii,
        Look::WordUnicodeNegate => Look::WordAsciiNegate,
        Look::WordStartUnicode => Look::WordStartAscii,
        Look::WordEndUnicode => Look::WordEndAscii,
        Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
        Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
        other => other,
    }
}

/// `pattern` with `\w` and `\d` made ASCII (`[[:word:]]`, `[[:digit:]]`; inside a
/// bracketed class `[:word:]`, `[:digit:]`). The words these patterns skip over
/// are English or, after normalisation, Latin script without diacritics, and a
/// Unicode `\w` (case-insensitive at that) compiles to a far larger automaton:
/// building the patterns was most of the first check's cost.
pub(crate) fn ascii_words(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut chars = pattern.chars().peekable();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('w' | 'd')) => {
                    let name = if e == 'w' { "word" } else { "digit" };
                    if depth > 0 {
                        out.push_str(&format!("[:{name}:]"));
                    } else {
                        out.push_str(&format!("[[:{name}:]]"));
                    }
                }
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' => {
                depth += 1;
                out.push(c);
                // A `]` or `^]` right after the opening bracket is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

// The patterns below are compile-time constants; the test
// `every_static_pattern_compiles` forces each one, so `expect` cannot fire in
// a build whose tests pass.
#[allow(clippy::expect_used)]
fn compile(pattern: &str) -> Regex {
    Regex::new(&ascii_b(pattern)).expect("static security pattern must compile")
}

/// A pattern compiled by `compile` at its first use. The threat patterns: the
/// literal gate ([`candidates`]) runs only the patterns whose starting literals
/// occur, so a process that checks a few ordinary texts compiles few of them
/// (compiling all was 77 M of the 506 M instructions of a first check). The
/// injection phrase rules: their sets find the rules that match, and only those
/// are compiled on their own.
pub(crate) struct LazyRegex {
    pattern: &'static str,
    compile: fn(&str) -> Regex,
    re: OnceLock<Regex>,
}

impl LazyRegex {
    pub(crate) const fn new(pattern: &'static str, compile: fn(&str) -> Regex) -> Self {
        LazyRegex {
            pattern,
            compile,
            re: OnceLock::new(),
        }
    }
}

impl std::ops::Deref for LazyRegex {
    type Target = Regex;
    fn deref(&self) -> &Regex {
        self.re.get_or_init(|| (self.compile)(self.pattern))
    }
}

// Separate regexes, not a `RegexSet`: each keeps its literal prefilter and a
// small lazy DFA (a set of these patterns measured ~40x slower).
static THREAT_RES: LazyLock<Vec<(Threat, LazyRegex)>> = LazyLock::new(|| {
    THREAT_PATTERNS
        .iter()
        .map(|(t, p)| (*t, LazyRegex::new(p, compile)))
        .collect()
});

static CONTROL: LazyLock<Regex> = LazyLock::new(|| compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"));
static RE_TAG_ANY_CASE: LazyLock<Regex> = LazyLock::new(|| compile(TAG_ANY_CASE));
static RE_TAG_SCRIPT: LazyLock<Regex> = LazyLock::new(|| compile(TAG_SCRIPT_LOWER));
static RE_HANDLER: LazyLock<Regex> = LazyLock::new(|| compile(HANDLER_TAG));
static RE_SCHEME: LazyLock<Regex> = LazyLock::new(|| compile(SCHEME_CTX));
static RE_DATA_HTML: LazyLock<Regex> = LazyLock::new(|| compile(DATA_HTML));
static RE_ROLE_TOKEN: LazyLock<Regex> = LazyLock::new(|| compile(ROLE_TOKEN));
static RE_ROLE_HEADER: LazyLock<Regex> = LazyLock::new(|| compile(ROLE_HEADER));
static RE_ROLE_TURN: LazyLock<Regex> = LazyLock::new(|| compile(ROLE_TURN));

const BULK_VERB: &str = r"\b(?:dump|export|list|show|give|print|return|output|fetch|get|retrieve|reveal|display|send|leak|extract|read|copy|exfiltrate|enumerate|download)(?:\s+(?:me|us))?\s+";
/// Bulk-extraction patterns; `VERB` stands for [`BULK_VERB`].
#[rustfmt::skip]
const BULK_PATTERNS: &[&str] = &[
    r"(?i)VERB(?:everything|all\s+(?:of\s+)?(?:it|them))\b",
    r"(?i)VERB(?:all|every|each|(?:the|your)\s+(?:entire|whole|full|complete))\s+(?:of\s+)?(?:(?:the|your|my|our|their|stored|saved|other|user|agent|team|api|ssh|access)\s+){0,3}(?:memor(?:y|ies)|records?|entries|entry|data|database|db|contents?|store|storage|knowledge\s*base|history|passwords?|secrets?|credentials?|creds|keys?|tokens?|notes?)\b",
    r"(?i)\b(?:everything|all)\s+(?:that\s+)?(?:(?:is|was|has\s+been|you(?:'ve|\s+have)?|we(?:'ve|\s+have)?)\s+)?(?:stored|saved|remembered|remember|memorized|recorded|kept)\b",
    r"(?i)\beverything\s+in\s+(?:the\s+|your\s+)?(?:memory|memories|store|database|db|knowledge\s*base)\b|\bselect\s+\*\s+from\b",
    // Wildcard-only or "everything"-only queries.
    r#"^[\s'"`]*(?:[*%]|\.\*)[\s'"`*%._?]*$|(?i)^\s*(?:all|everything|anything)\s*[.!?]*\s*$"#,
];
static BULK: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let expand = |p: &&str| compile(&p.replace("VERB", BULK_VERB));
    BULK_PATTERNS.iter().map(expand).collect()
});
static SECRET_NOUN: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:\b(?P<prev>\w+)\s+(?:[\w'’-]+\s+){0,2})?\b(?:passwords?|passwd|passphrases?|passcodes?|api[\s_-]?keys?|apikeys?|secret[\s_-]?keys?|access[\s_-]?keys?|(?:access|auth|bearer|refresh|api|github|gh|session|slack|jwt|oauth|id|personal\s+access|npm|pypi|deploy)[\s_-]?tokens?|[a-z0-9]+_tokens?|credentials?|creds|private[\s_-]?keys?|ssh[\s_-]?keys?|secrets?|2fa\s+codes?|otp\s+codes?|session\s+cookies?)\b(?:\s+(?P<next>\w+))?",
    )
});
static PROBE_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)\b(?:what(?:\s+(?:is|are|was|were)|'s|’s|s)\s+(?:the|our|your|their|his|her|my|\w+['’]s)\b|give\s+me|tell\s+me|send\s+me|show\s+me|share|reveal|leak|print|disclose|expose|dump|list|display|retrieve|fetch|read\s+out|output|paste|your|their|his|her|other|others|another|someone|somebody|everyone|everybody|anyone|admin|administrator|root|prod|production|(?:of|for|from|belonging\s+to|used\s+by|owned\s+by)\s+(?:the\s+|user\s+|agent\s+|account\s+)?@?\w)",
    )
});
static POSSESSIVE: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\b(?P<w>\w+?)(?:['’]s|s['’])(?:\s|$)"));

/// Next words that turn a secret noun into a design topic ("password reset").
const NOUN_QUALIFIERS: &str = "hash hashes hashing hashed reset resets policy policies rotation refresh validation \
     validator expiry expiration expires ttl format length strength complexity requirement \
     requirements rule rules field fields column flow flows schema storage manager management \
     handling logic scheme generation generator parsing parser middleware check checks \
     verification endpoint endpoints limit limits count usage budget bucket cost per type \
     types lifecycle scope scopes design docs documentation encryption prompt input form page \
     screen support";
/// Previous words that make a secret noun an action topic ("rotate the key").
const ACTION_QUALIFIERS: &str = "hash hashing salt salting rotate rotating reset resetting revoke revoking expire \
     expiring validate validating verify verifying encrypt encrypting store storing change \
     changing update updating generate generating refresh refreshing invalidate check \
     checking handle handling protect protecting secure mask masking redact redacting forgot \
     weak strong missing invalid expired";
const CONTRACTIONS: &str = "let it that what here there who he she where how when why";

/// Which threat patterns can match a text, found in one pass: every match of a pattern
/// starts with one of the literals its syntax allows there (extracted by
/// `regex-syntax`), so a pattern none of whose literals occur is not run. Patterns
/// without such a finite set always run. The literals are lower-cased (ASCII) and
/// searched ignoring ASCII case: a case-insensitive pattern's literals are its words in
/// every mix of cases (64 for `ignore`), which as such outgrew the extractor's limits
/// and left short prefixes (`igno`) or none; one lower-case word each keeps the automaton
/// small and the words whole. A case-sensitive pattern may then run on a text where only
/// another case of its literal occurs, which costs a search but changes no answer.
struct Gate {
    /// Every pattern's starting literals.
    literals: aho_corasick::AhoCorasick,
    /// Literal number to pattern number.
    owner: Vec<usize>,
    /// Patterns that always run.
    always: Vec<usize>,
}

/// The literals every match of `pattern` starts with; `None` when there is no finite,
/// non-empty set of them.
#[cfg(test)]
fn starting_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::Parser::new().parse(&ascii_b(pattern)).ok()?;
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .limit_total(LITERALS_PER_PATTERN)
        .extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    let mut lower: Vec<Vec<u8>> = literals
        .iter()
        .map(|l| l.as_bytes().to_ascii_lowercase())
        .collect();
    lower.sort();
    lower.dedup();
    Some(lower)
}

/// The source of `security/gate_table.rs` for [`THREAT_PATTERNS`] as they are.
#[cfg(test)]
fn gate_table_source() -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "//! Generated from `THREAT_PATTERNS` by `starting_literals` (the test\n\
         //! `the_gate_table_is_what_the_patterns_give` prints it anew when they change).\n\
         //! Extracting them costs 65 M instructions at the first check of a process;\n\
         //! reading them costs nothing.\n\n\
         /// Per threat pattern, the lower-cased literals every match starts with, or\n\
         /// `None` when the pattern always runs.\n\
         #[rustfmt::skip]\n\
         pub(super) const GATE_LITERALS: &[Option<&[&[u8]]>] = &[\n",
    );
    for (i, (_, pattern)) in THREAT_PATTERNS.iter().enumerate() {
        match starting_literals(pattern) {
            None => {
                let _ = writeln!(out, "    None, // {i}");
            }
            Some(literals) => {
                let _ = write!(out, "    Some(&[");
                for l in &literals {
                    let _ = write!(out, "b\"{}\", ", l.escape_ascii());
                }
                let _ = writeln!(out, "]), // {i}");
            }
        }
    }
    out.push_str("];\n");
    out
}

/// Most literals extracted per pattern (before lower-casing merges the cases of a word).
#[cfg(test)]
const LITERALS_PER_PATTERN: usize = 8192;

/// The gate, from the literals [`starting_literals`] extracted when the patterns were
/// last changed (`security/gate_table.rs`; a test checks it is current). `None`, and
/// every pattern runs, if the table does not fit the patterns.
static GATE: LazyLock<Option<Gate>> = LazyLock::new(|| {
    if gate_table::GATE_LITERALS.len() != THREAT_PATTERNS.len() {
        return None;
    }
    let (mut all, mut owner, mut always) = (Vec::new(), Vec::new(), Vec::new());
    for (i, literals) in gate_table::GATE_LITERALS.iter().enumerate() {
        match literals {
            Some(literals) => {
                owner.extend(std::iter::repeat_n(i, literals.len()));
                all.extend(literals.iter().copied());
            }
            None => always.push(i),
        }
    }
    let literals = aho_corasick::AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&all)
        .ok()?;
    Some(Gate {
        literals,
        owner,
        always,
    })
});

/// The numbers of the threat patterns worth running on `text`, ascending.
fn candidates(text: &str) -> Vec<usize> {
    let Some(gate) = GATE.as_ref() else {
        return (0..THREAT_PATTERNS.len()).collect();
    };
    let mut run = vec![false; THREAT_PATTERNS.len()];
    for i in &gate.always {
        if let Some(r) = run.get_mut(*i) {
            *r = true;
        }
    }
    for m in gate.literals.find_overlapping_iter(text) {
        if let Some(r) = gate
            .owner
            .get(m.pattern().as_usize())
            .and_then(|i| run.get_mut(*i))
        {
            *r = true;
        }
    }
    (0..run.len())
        .filter(|i| run.get(*i) == Some(&true))
        .collect()
}

/// Injection classes found in `text`: sorted, deduplicated; empty means clean.
pub fn threats(text: &str) -> Vec<Threat> {
    let mut found = BTreeSet::new();
    for i in candidates(text) {
        if let Some((threat, re)) = THREAT_RES.get(i)
            && !found.contains(threat)
            && re.is_match(text)
        {
            found.insert(*threat);
        }
    }
    found.into_iter().collect()
}

/// True when [`threats`] finds anything.
pub fn is_suspicious(text: &str) -> bool {
    candidates(text)
        .into_iter()
        .any(|i| THREAT_RES.get(i).is_some_and(|(_, re)| re.is_match(text)))
}

/// Secret kinds present in `text` (kebab-case, sorted, deduplicated), as
/// [`redact_secrets`] names them; see [`crate::secrets`] for the rule set.
/// Where matches overlap (`api_key=sk-…`) only the most specific kind is
/// reported.
pub fn secrets(text: &str) -> Vec<String> {
    crate::secrets::kinds(text)
}

/// Replaces each secret with `[REDACTED:<kind>]` (see [`crate::secrets::redact`]).
/// Assignments keep their key (`password=[REDACTED:credential-assignment]`,
/// quotes kept), bearer tokens keep the `Bearer ` scheme, PEM blocks go whole.
/// Text without secrets comes back byte-identical, and redaction is idempotent.
pub fn redact_secrets(text: &str) -> String {
    crate::secrets::redact(text).text
}

type Step = for<'a> fn(&'a str) -> Cow<'a, str>;

fn apply<'a>(text: Cow<'a, str>, step: Step) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(s) => step(s),
        Cow::Owned(s) => {
            let changed = match step(&s) {
                Cow::Owned(n) => Some(n),
                Cow::Borrowed(_) => None,
            };
            Cow::Owned(changed.unwrap_or(s))
        }
    }
}

fn strip_controls(s: &str) -> Cow<'_, str> {
    CONTROL.replace_all(s, "")
}

fn escape_tags(s: &str) -> Cow<'_, str> {
    let s = apply(RE_TAG_ANY_CASE.replace_all(s, "${pre}&lt;${rest}"), |s| {
        RE_TAG_SCRIPT.replace_all(s, "&lt;${rest}")
    });
    apply(s, |s| RE_HANDLER.replace_all(s, "&lt;${rest}"))
}

fn block_schemes(s: &str) -> Cow<'_, str> {
    let s = RE_SCHEME.replace_all(s, |c: &Captures| {
        let all = c.get(0).map_or("", |m| m.as_str());
        let next = c
            .get(0)
            .and_then(|m| s.get(m.end()..))
            .and_then(|r| r.chars().next());
        let pre = c.name("pre").map_or("", |m| m.as_str());
        if pre.is_empty() && next.is_none_or(char::is_whitespace) {
            return all.to_owned();
        }
        let name: String = c
            .name("name")
            .map_or("", |m| m.as_str())
            .split_whitespace()
            .collect();
        format!("{pre}{name}-blocked:")
    });
    apply(s, |s| RE_DATA_HTML.replace_all(s, "data-blocked:${mime}"))
}

fn defuse_roles(s: &str) -> Cow<'_, str> {
    let s = RE_ROLE_TOKEN.replace_all(s, |c: &Captures| {
        let name = ["a", "b", "c", "d"].iter().find_map(|g| c.name(g));
        format!("({})", name.map_or("", |m| m.as_str()))
    });
    let s = apply(s, |s| RE_ROLE_HEADER.replace_all(s, "${i}(${r})"));
    apply(s, |s| {
        RE_ROLE_TURN.replace_all(s, "${i}(${r}${r2})${t}${t2}")
    })
}

/// Neutralises poisoning vectors, leaving ordinary prose and code byte-identical:
///
/// * ASCII control characters other than `\n`, `\r`, `\t` are removed.
/// * Markup is defused by escaping only the opening `<` as `&lt;` of dangerous
///   tags (`script`, `iframe`, `object`, `embed`, `frame`, `frameset`,
///   `applet`) and of any tag carrying an `on…=` handler (JSX-style
///   `onClick={…}` excepted); `javascript:`/`vbscript:` URL schemes become
///   `javascript-blocked:`/`vbscript-blocked:` and `data:text/html` becomes
///   `data-blocked:text/html`. Nothing is deleted, so the content stays
///   readable; other `<`, `>`, `&` are untouched (code such as `Vec<String>`).
/// * Chat-role markers are defused: `<|im_start|>` → `(im_start)`, `[INST]` →
///   `(INST)`, `<<SYS>>` → `(SYS)`, and a line-start `### System:` or
///   `system: you…` gets its role label wrapped: `(### System:)`.
///
/// Injection *phrases* ("ignore previous instructions") and SQL are left as
/// they are (use [`threats`]); secrets are not redacted (use
/// [`redact_secrets`]). `sanitize` is idempotent.
pub fn sanitize(text: &str) -> String {
    const STEPS: [Step; 4] = [strip_controls, escape_tags, block_schemes, defuse_roles];
    STEPS
        .iter()
        .fold(Cow::Borrowed(text), |s, step| apply(s, *step))
        .into_owned()
}

fn is_bulk_extraction(text: &str) -> bool {
    BULK.iter().any(|re| re.is_match(text))
}

fn has_word(list: &str, word: &str) -> bool {
    list.split_whitespace()
        .any(|w| w.eq_ignore_ascii_case(word))
}

fn is_secret_probe(text: &str) -> bool {
    let wants_value = SECRET_NOUN.captures_iter(text).any(|c| {
        let is =
            |group: &str, list: &str| c.name(group).is_some_and(|w| has_word(list, w.as_str()));
        !is("next", NOUN_QUALIFIERS) && !is("prev", ACTION_QUALIFIERS)
    });
    let foreign_possessive = || {
        POSSESSIVE.captures_iter(text).any(|c| {
            c.name("w")
                .is_some_and(|w| !has_word(CONTRACTIONS, w.as_str()))
        })
    };
    wants_value && (PROBE_CONTEXT.is_match(text) || foreign_possessive())
}

/// Scores a memory search query for hostility. Each reason contributes a
/// weight (injection classes 0.7, `bulk-extraction` and `secret-probe` 0.6)
/// combined as `1 - Π(1 - w)`: no reason gives 0.0, one gives at least 0.6,
/// and every added reason raises the score, never past 1.0.
pub fn analyze_query(text: &str) -> QueryAnalysis {
    let mut reasons: Vec<&'static str> = threats(text).into_iter().map(Threat::as_str).collect();
    let mut miss = 0.3_f64.powi(i32::try_from(reasons.len()).unwrap_or(i32::MAX));
    for (reason, hit) in [
        ("bulk-extraction", is_bulk_extraction(text)),
        ("secret-probe", is_secret_probe(text)),
    ] {
        if hit {
            reasons.push(reason);
            miss *= 0.4;
        }
    }
    QueryAnalysis {
        score: (1.0 - miss).clamp(0.0, 1.0),
        reasons,
    }
}

mod gate_table;
#[cfg(test)]
mod tests;
