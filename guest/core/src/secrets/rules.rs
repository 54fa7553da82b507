//! The gitleaks rule set: read from `rules.json`, keyword prefilter built once, each
//! rule's regex and allowlists compiled on first use.

use std::sync::{LazyLock, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// The converted gitleaks rule set.
pub(super) const RULES_JSON: &str = include_str!("rules.json");

/// Rank of gitleaks' vendor rules among the hand-written classes (lower wins
/// when matches overlap; see [`super::builtin::Builtin::rank`]).
pub(super) const RANK_RULE: u8 = 2;

#[derive(Deserialize)]
struct RuleFile {
    #[serde(default)]
    commit: String,
    #[serde(default)]
    allow: AllowData,
    #[serde(default)]
    rules: Vec<RuleData>,
}

#[derive(Deserialize)]
pub(super) struct RuleData {
    pub(super) id: String,
    regex: String,
    #[serde(default)]
    pub(super) group: Option<usize>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    pub(super) entropy: Option<f64>,
    #[serde(default)]
    allow: Vec<AllowData>,
}

#[derive(Deserialize, Default)]
struct AllowData {
    #[serde(default)]
    target: Target,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
}

/// What an allowlist regex is matched against.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Target {
    #[default]
    Secret,
    Match,
    Line,
}

pub(super) struct Allow {
    target: Target,
    regexes: Vec<Regex>,
    /// The stopwords, any case: a secret containing one is allowed. One automaton, so
    /// a candidate costs one pass over it however many there are (the generic rule has
    /// 1,446; a `contains` for each cost a hostile text of candidates 100 µs apiece).
    stopwords: Option<AhoCorasick>,
}

impl Allow {
    /// Compiles every regex and the stopwords, or `None` if any fails.
    fn compile(data: &AllowData) -> Option<Allow> {
        let regexes = data
            .regexes
            .iter()
            .map(|r| build(r))
            .collect::<Option<Vec<_>>>()?;
        let stopwords = if data.stopwords.is_empty() {
            None
        } else {
            Some(stopword_set(&data.stopwords)?)
        };
        Some(Allow {
            target: data.target,
            regexes,
            stopwords,
        })
    }

    /// Whether this allowlist's regexes are matched against a candidate's line, whose
    /// answer is then the same for every candidate on that line.
    pub(super) fn on_line(&self) -> bool {
        matches!(self.target, Target::Line)
    }

    /// True when this allowlist's regexes match `secret`, `whole` or `line`, whichever
    /// it targets.
    pub(super) fn allows_by_regex(&self, secret: &str, whole: &str, line: &str) -> bool {
        let target = match self.target {
            Target::Secret => secret,
            Target::Match => whole,
            Target::Line => line,
        };
        self.regexes.iter().any(|re| re.is_match(target))
    }

    /// True when `secret` holds one of this allowlist's stopwords.
    pub(super) fn allows_by_stopword(&self, secret: &str) -> bool {
        self.stopwords
            .as_ref()
            .is_some_and(|ac| ac.is_match(secret))
    }
}

/// One automaton for `words`, matched in any case; `None` if it cannot be built.
fn stopword_set(words: &[String]) -> Option<AhoCorasick> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(words)
        .ok()
}

/// A gitleaks rule, compiled.
pub(super) struct Compiled {
    pub(super) re: Regex,
    pub(super) allows: Vec<Allow>,
}

pub(super) struct Rule {
    pub(super) data: RuleData,
    pub(super) rank: u8,
    pub(super) generic: bool,
    compiled: OnceLock<Option<Compiled>>,
}

impl Rule {
    pub(super) fn compiled(&self) -> Option<&Compiled> {
        self.compiled
            .get_or_init(|| {
                let re = build(&self.data.regex)?;
                let allows = self
                    .data
                    .allow
                    .iter()
                    .map(Allow::compile)
                    .collect::<Option<Vec<_>>>()?;
                Some(Compiled { re, allows })
            })
            .as_ref()
    }
}

pub(super) struct RuleSet {
    pub(super) commit: String,
    pub(super) rules: Vec<Rule>,
    /// Keyword automaton; pattern `i` is `keywords[i]`, run by `keyword_rules[i]`.
    pub(super) prefilter: Option<AhoCorasick>,
    pub(super) keyword_rules: Vec<Vec<usize>>,
    /// Rules without keywords (or all rules, if the automaton failed to build).
    pub(super) unconditional: Vec<usize>,
    pub(super) global: Allow,
}

/// Compiles one pattern with generous limits; `None` if the crate rejects it.
fn build(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern)
        .size_limit(32 << 20)
        .dfa_size_limit(8 << 20)
        .build()
        .ok()
}

fn rank_of(id: &str) -> u8 {
    match id {
        "private-key" => 0,
        id if id.starts_with("generic") => 5,
        id if id.starts_with("curl-auth") => 3,
        _ => RANK_RULE,
    }
}

pub(super) static RULES: LazyLock<RuleSet> = LazyLock::new(|| {
    let file: RuleFile = serde_json::from_str(RULES_JSON).unwrap_or(RuleFile {
        commit: String::new(),
        allow: AllowData::default(),
        rules: Vec::new(),
    });
    let global = Allow::compile(&file.allow).unwrap_or(Allow {
        target: Target::Secret,
        regexes: Vec::new(),
        stopwords: stopword_set(&file.allow.stopwords),
    });
    let rules: Vec<Rule> = file
        .rules
        .into_iter()
        .map(|data| Rule {
            rank: rank_of(&data.id),
            generic: data.id.starts_with("generic"),
            data,
            compiled: OnceLock::new(),
        })
        .collect();
    let mut keywords: Vec<String> = Vec::new();
    let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
    let mut unconditional = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.data.keywords.is_empty() {
            unconditional.push(i);
        }
        for k in &rule.data.keywords {
            match keywords.iter().position(|have| have == k) {
                Some(at) => {
                    if let Some(list) = keyword_rules.get_mut(at) {
                        list.push(i);
                    }
                }
                None => {
                    keywords.push(k.clone());
                    keyword_rules.push(vec![i]);
                }
            }
        }
    }
    let prefilter = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&keywords)
        .ok();
    if prefilter.is_none() {
        unconditional = (0..rules.len()).collect();
    }
    RuleSet {
        commit: file.commit,
        rules,
        prefilter,
        keyword_rules,
        unconditional,
        global,
    }
});
