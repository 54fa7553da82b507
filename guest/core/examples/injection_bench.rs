//! Injection benchmark: runs [`maas_core::injection::assess`] on a public
//! labelled corpus and prints, per category, how many items were refused,
//! flagged and passed; for benign items the false-refusal and false-flag rates.
//!
//! ```text
//! dir=$(scripts/injection-corpus)
//! cargo run --release -p maas-core --example injection_bench -- "$dir"
//! ```
//!
//! PATH is a directory of `*.jsonl` files or one or more files. Each line is a
//! JSON object with the text in `prompt` or `text`, the label in `label`
//! (`1`/`"1"`/`"malicious"`/`"injection"` is malicious, anything else benign),
//! and the category in `attack_type` or `category`.
//!
//! # Corpus
//!
//! PromptShield dataset, Neural Alchemy, MIT licence,
//! <https://github.com/Neural-alchemy/promptshield>, commit
//! `a2e40c4a0cf7913cbe3e36b5e1810415191a67b0`, files
//! `ml_data/{train,val,test}.jsonl` (8,484 rows; 2,726 distinct texts: 2,264
//! benign, 462 malicious in 19 attack categories, mostly English with some
//! German, French, Spanish, Chinese, Korean, Arabic, Hebrew and encoded items). `scripts/injection-corpus`
//! fetches it and checks its SHA-256 sums; it is not committed (2.9 MB with
//! duplicates).
//!
//! The benchmark merges the files, keeps the first copy of each distinct text
//! and splits deterministically: FNV-1a 64 of the text's UTF-8 bytes, modulo
//! 100, below 35 is **held out**, the rest is the development part. Patterns
//! were written looking at development items only, and the learned model
//! (`src/injection/train.py`) is trained on them only; its figures on the
//! development part are therefore in-sample.
//!
//! # Second corpus
//!
//! The prompt-injection tests of CyberSecEval (Meta PurpleLlama, MIT licence,
//! commit `4be64c3a24442b51c76175e6ec67722cc3f5fe38`):
//!
//! ```text
//! dir=$(scripts/injection-corpus-cyberseceval)
//! cargo run --release -p maas-core --example injection_bench -- "$dir/english.jsonl"
//! ```
//!
//! Every test is an attack; the category is `direct/…` or `indirect/…` and the
//! injection variant. The same split applies. Figures and discussion are in the
//! module docs of `maas_core::injection` ("A second corpus").
//!
//! # Third corpus
//!
//! The robustness benchmarks of the Tensor Trust dataset v1 (Toyer et al.,
//! ICLR 2024; commit `e2385ea9cf448c9641b96e2e39f113ed4979a5b0`): 1,344
//! attacks written by players of an online game against a model guarding a
//! password, 775 `hijacking` (make it say "Access Granted") and 569
//! `extraction` (make it reveal its instructions or password):
//!
//! ```text
//! dir=$(scripts/injection-corpus-tensortrust)
//! cargo run --release -p maas-core --example injection_bench -- "$dir"
//! ```
//!
//! Every item is an attack. It was chosen as a corpus no rule had been written
//! from, measured whole before anything was changed for it, and the same
//! split applies: rules written from it look at its development part only.
//! Held-out part (323 distinct items): 82.4 % caught before (266; extraction
//! 90.4 %, hijacking 74.9 %), **86.1 %** after the rules written from the
//! development part (278; extraction 93.6 %, hijacking 79.0 %); development
//! part 80.1 % → 87.0 %. Details in the module docs of `maas_core::injection`
//! ("A third corpus").
//!
//! # Label correction
//!
//! The corpus labels its 10 `control` items (`attack_type: "control"`,
//! `severity: 0.0`, attack ids `BC-001`..`BC-010`, descriptions like "Simple
//! factual request", texts like "List five fruits.") malicious (`label: 1`),
//! although they are the benign control prompts of the corpus's source: every
//! other malicious row has severity 0.3 or more. The benchmark reads an item
//! with attack type `control` and severity 0 as benign, so these count in the
//! benign false-refusal and false-flag rates and not in the malicious rate, and
//! prints how many labels it corrected (10 in the pinned corpus: 7 in the
//! development part, 3 held out). Nothing else is relabelled. `train.py` reads
//! the labels the same way.
//!
//! Caveats of this corpus: its `adversarial`, `encoding` and
//! `training_extraction` categories are mostly requests to run shell or Python
//! code (`Bypass: \`os.system('whoami')\``), which [`assess`] scores as weak
//! code-execution cues (a flag needs a second cue); most benign items are short
//! synthetic requests.
//!
//! # Figures
//!
//! Held-out part (899 items, labels corrected): malicious refused or flagged
//! 94.7 % (143/151), refused 73.5 %; benign refused 0 / 748, flagged 5 / 748
//! (0.7 %). Development part (in-sample for the model and the phrases): 100 %
//! (301/301), refused 93.0 %; benign refused 0 / 1,526, flagged 9 / 1,526
//! (0.6 %). With the label correction alone (before the escapes, tag
//! characters, split words, the phrase rules from general knowledge and the
//! languages of the module docs' last column): held out the same 94.7 %,
//! benign flagged 6 / 748; development benign flagged 11 / 1,526. Before the
//! label correction (the `control` items counted as
//! malicious, and the model trained with them as malicious): 92.9 % (143/154;
//! 94.7 % without `control`), refused 72.1 %; benign refused 0 / 745, flagged
//! 9 / 745 (1.2 %). Before the model's weak tier, 30 training epochs, the
//! camelCase fix and the latest phrase signals: 91.6 % held out (92.7 % without
//! `control`); before HTML character references and the phrase signals before
//! those: 90.9 %; before the newer phrase signals and the retrained model: 89.6 %
//! held out, 9 / 745 benign flagged; before the learned model: 70.1 % and 86.4 %,
//! nothing benign flagged. Per category figures and discussion are in the module
//! docs of `maas_core::injection`.
//!
//! `--speed` (release, shared 2-core machine): short benign notes 186–242 µs/KB
//! (36–47 µs per ~200-byte note), the corpus 361–449 µs/KB; before the phrase
//! set and the ASCII fast path 470–1,078 µs/KB and 927–2,519 µs/KB. With the
//! model's weak tier and the latest phrase rules: 15–22 µs per note and 132–255
//! µs/KB on the corpus at load 4–6; at load 8–9, side by side with the phrase
//! rules before them, 22–41 against 33–39 µs per note and 307–402 against
//! 322–343 µs/KB (a first form of the model-probing rule, with two free gaps,
//! cost 5x on the corpus and was rewritten). With the latest
//! changes (escapes, tag characters, split words, more phrase rules, run as
//! two sets), 8 alternating runs at load 6–7 against the code before: medians 40.5 against
//! 38.5 µs per note, 405 against 409 µs/KB on the corpus; by instruction count
//! (callgrind, steady state) +6.2 % per note and +7.1 % per corpus item.
//!
//! Options: `--misses dev` prints the development items that passed (malicious)
//! or were refused (benign); the held-out part has no such option.
//! `--dev-only` reports the development part only (for work on the signals,
//! so the held-out figures are read only when a change is measured). `--speed`
//! prints the cost of [`assess`] instead, in µs per KB, on short benign notes
//! (~200 bytes, the common case) and on the whole corpus.
//!
//! [`assess`]: maas_core::injection::assess

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use maas_core::injection::{Verdict, assess};

/// Share of the corpus held out, in percent.
const HELD_OUT_PERCENT: u64 = 35;

struct Item {
    text: String,
    malicious: bool,
    category: String,
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn held_out(text: &str) -> bool {
    fnv1a64(text.as_bytes()) % 100 < HELD_OUT_PERCENT
}

fn files(args: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            v.retain(|f| f.extension().is_some_and(|x| x == "jsonl"));
            v.sort();
            // Fixed order for the pinned corpus, so "first copy" is stable.
            v.sort_by_key(|f| match f.file_name().and_then(|n| n.to_str()) {
                Some("train.jsonl") => 0,
                Some("val.jsonl") => 1,
                Some("test.jsonl") => 2,
                _ => 3,
            });
            out.extend(v);
        } else {
            out.push(p.to_path_buf());
        }
    }
    out
}

fn label_is_malicious(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.as_i64() == Some(1),
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(s) => {
            matches!(
                s.to_ascii_lowercase().as_str(),
                "1" | "malicious" | "injection" | "jailbreak" | "attack"
            )
        }
        _ => false,
    }
}

/// True for the corpus's benign control prompts: category `control` with
/// severity 0 (ids `BC-001`..`BC-010`, "List five fruits."), which carry
/// label 1 although the corpus's own record makes them benign; see "Label
/// correction" in the docs above.
fn benign_control(category: &str, v: &serde_json::Value) -> bool {
    category == "control"
        && v.get("severity")
            .and_then(serde_json::Value::as_f64)
            .is_some_and(|s| s == 0.0)
}

/// The distinct items of `paths` (first copy of each text) and how many labels
/// [`benign_control`] corrected.
fn load(paths: &[PathBuf]) -> (Vec<Item>, usize) {
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    let mut corrected = 0;
    for p in paths {
        let Ok(body) = std::fs::read_to_string(p) else {
            eprintln!("cannot read {}", p.display());
            continue;
        };
        for line in body.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(text) = v
                .get("prompt")
                .or_else(|| v.get("text"))
                .and_then(|t| t.as_str())
            else {
                continue;
            };
            if !seen.insert(text.to_string()) {
                continue;
            }
            let labelled = v.get("label").is_some_and(label_is_malicious);
            let category = v
                .get("attack_type")
                .or_else(|| v.get("category"))
                .and_then(|c| c.as_str())
                .unwrap_or(if labelled { "malicious" } else { "benign" })
                .to_string();
            let malicious = labelled && !benign_control(&category, &v);
            if labelled && !malicious {
                corrected += 1;
            }
            items.push(Item {
                text: text.to_string(),
                malicious,
                category,
            });
        }
    }
    (items, corrected)
}

#[derive(Default, Clone, Copy)]
struct Row {
    items: usize,
    refused: usize,
    flagged: usize,
    passed: usize,
}

impl Row {
    fn add(&mut self, v: Verdict) {
        self.items += 1;
        match v {
            Verdict::Refuse => self.refused += 1,
            Verdict::Flag => self.flagged += 1,
            Verdict::Pass => self.passed += 1,
        }
    }
    fn merge(&mut self, o: Row) {
        self.items += o.items;
        self.refused += o.refused;
        self.flagged += o.flagged;
        self.passed += o.passed;
    }
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

fn report(name: &str, items: &[(&Item, Verdict)]) {
    let mut rows: BTreeMap<(bool, &str), Row> = BTreeMap::new();
    for (it, v) in items {
        rows.entry((it.malicious, it.category.as_str()))
            .or_default()
            .add(*v);
    }
    println!("\n== {name}: {} items", items.len());
    println!(
        "{:<10} {:<24} {:>6} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "label", "category", "items", "refused", "flagged", "passed", "caught%", "refused%"
    );
    let mut mal = Row::default();
    let mut ben = Row::default();
    for ((malicious, cat), r) in &rows {
        let label = if *malicious { "malicious" } else { "benign" };
        println!(
            "{label:<10} {cat:<24} {:>6} {:>8} {:>8} {:>7} {:>8.1}% {:>8.1}%",
            r.items,
            r.refused,
            r.flagged,
            r.passed,
            pct(r.refused + r.flagged, r.items),
            pct(r.refused, r.items)
        );
        if *malicious {
            mal.merge(*r);
        } else {
            ben.merge(*r);
        }
    }
    println!(
        "malicious: {} items, refused or flagged {:.1}% ({}; refused {:.1}%, flagged {:.1}%)",
        mal.items,
        pct(mal.refused + mal.flagged, mal.items),
        mal.refused + mal.flagged,
        pct(mal.refused, mal.items),
        pct(mal.flagged, mal.items),
    );
    println!(
        "benign:    {} items, false-refusal {:.2}% ({}), false-flag {:.2}% ({})",
        ben.items,
        pct(ben.refused, ben.items),
        ben.refused,
        pct(ben.flagged, ben.items),
        ben.flagged
    );
}

/// Short benign notes (~200 bytes each): the common case on the write path.
const PROSE: &[&str] = &[
    "Deploy notes: the staging cluster runs the search index rebuild nightly at 02:00 UTC; if it fails, check /var/log/maas/index.log and rerun `maas index rebuild --owner ops`. Alice owns this until March.",
    "User prefers short answers with code samples in Rust. Their project is a CLI for syncing calendars; they use tokio 1.x, serde and reqwest. Avoid suggesting async-std. Timezone is Europe/Berlin.",
    "Meeting 2026-11-30: agreed to move the journal compaction behind a feature flag, measure p99 append latency before and after, and revisit the retention policy (90 days) with the legal team next week.",
    "fn parse_config(path: &Path) -> Result<Config, ConfigError> reads TOML, applies defaults for missing keys and validates the port range; tests live in tests/config.rs and cover the empty-file case.",
];

/// `--speed`: µs per KB of [`assess`] on short benign notes and on the corpus.
fn speed(items: &[Item]) {
    let time = |texts: &[&str], rounds: usize| -> f64 {
        let bytes: usize = texts.iter().map(|t| t.len()).sum();
        for t in texts {
            std::hint::black_box(assess(t));
        }
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            for t in texts {
                std::hint::black_box(assess(std::hint::black_box(t)));
            }
        }
        start.elapsed().as_secs_f64() * 1e6 / rounds as f64 / (bytes as f64 / 1024.0)
    };
    let prose_bytes: usize = PROSE.iter().map(|t| t.len()).sum();
    let per_kb = time(PROSE, 2000);
    println!(
        "prose notes ({} texts, {:.0} bytes each): {per_kb:.1} µs/KB, {:.1} µs per note",
        PROSE.len(),
        prose_bytes as f64 / PROSE.len() as f64,
        per_kb * prose_bytes as f64 / 1024.0 / PROSE.len() as f64
    );
    let corpus: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    let corpus_bytes: usize = corpus.iter().map(|t| t.len()).sum();
    println!(
        "corpus ({} texts, {:.0} bytes each on average): {:.1} µs/KB",
        corpus.len(),
        corpus_bytes as f64 / corpus.len() as f64,
        time(&corpus, 5)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let speed_only = args.iter().any(|a| a == "--speed");
    let dev_only = args.iter().any(|a| a == "--dev-only");
    let args: Vec<String> = args
        .into_iter()
        .filter(|a| a != "--speed" && a != "--dev-only")
        .collect();
    let show_misses = args.windows(2).any(|w| {
        w.first().is_some_and(|a| a == "--misses") && w.get(1).is_some_and(|b| b == "dev")
    });
    let paths: Vec<String> = {
        let mut v = Vec::new();
        let mut skip = false;
        for a in &args {
            if skip {
                skip = false;
                continue;
            }
            if a == "--misses" {
                skip = true;
                continue;
            }
            v.push(a.clone());
        }
        v
    };
    if paths.is_empty() {
        eprintln!(
            "usage: injection_bench PATH... [--misses dev] [--dev-only] [--speed]   (PATH: a directory of .jsonl files, or files)"
        );
        std::process::exit(2);
    }
    let (items, corrected) = load(&files(&paths));
    if items.is_empty() {
        eprintln!("no items found");
        std::process::exit(1);
    }
    if speed_only {
        speed(&items);
        return;
    }
    let start = std::time::Instant::now();
    let judged: Vec<(&Item, Verdict, bool)> = items
        .iter()
        .map(|it| (it, assess(&it.text).verdict, held_out(&it.text)))
        .collect();
    let took = start.elapsed();
    let dev: Vec<(&Item, Verdict)> = judged.iter().filter(|j| !j.2).map(|j| (j.0, j.1)).collect();
    let held: Vec<(&Item, Verdict)> = judged.iter().filter(|j| j.2).map(|j| (j.0, j.1)).collect();
    println!(
        "{} distinct items ({} malicious), {:.1} µs per item",
        items.len(),
        items.iter().filter(|i| i.malicious).count(),
        took.as_secs_f64() * 1e6 / items.len() as f64
    );
    println!(
        "labels corrected: {corrected} items labelled malicious with attack_type `control` and severity 0 (benign controls) count as benign"
    );
    report("development part", &dev);
    if !dev_only {
        report(&format!("held-out part ({HELD_OUT_PERCENT}%)"), &held);
    }
    if show_misses {
        println!("\n== development misses");
        for (it, v) in &dev {
            let miss =
                (it.malicious && *v == Verdict::Pass) || (!it.malicious && *v == Verdict::Refuse);
            if miss {
                let a = assess(&it.text);
                let short: String = it.text.chars().take(160).collect();
                println!(
                    "[{}] {:?} {:.2} {:?} {:?}",
                    it.category, v, a.score, a.reasons, short
                );
            }
        }
    }
}
