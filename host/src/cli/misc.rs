//! `maas security …`, `maas audit`, `maas stats` and `maas digest`.

use super::{CliError, Ctx, text_arg};
use crate::render::{Rendered, fields};
use crate::{Runtime, admin};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Security verbs. Each takes TEXT, or `-` to read stdin.
#[derive(Debug, Clone, Subcommand)]
pub enum SecurityCmd {
    /// Is the text an injection attempt (SQL, script, prompt injection)?
    Check {
        /// The text, or `-` for stdin.
        text: String,
    },
    /// The text with script and markup neutralised and injection markers defused.
    Sanitize {
        /// The text, or `-` for stdin.
        text: String,
    },
    /// Score a search query for extraction or injection intent.
    Analyze {
        /// The query, or `-` for stdin.
        text: String,
    },
    /// The text with secrets (keys, tokens, passwords) redacted.
    Filter {
        /// The text, or `-` for stdin.
        text: String,
    },
    /// Would the text be accepted as memory content, and would it be stored redacted or
    /// flagged?
    Validate {
        /// The text, or `-` for stdin.
        text: String,
    },
}

/// What `audit` takes.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    /// `verify`: check the audit chain instead of listing entries.
    #[command(subcommand)]
    pub verb: Option<AuditVerb>,
    /// Which entries.
    #[command(flatten)]
    pub filter: crate::ops::audit::GetAuditLog,
}

/// What `audit` does besides listing.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditVerb {
    /// Check that no audit record was edited, removed or reordered: every record in the
    /// journal and every row of the read-audit log is chained to the one before it by
    /// hash. Names the first broken link and exits 1 if there is one. Prints the chain's
    /// anchor (`SEQ:HEAD,ROW:LINK`: the journal's chain head and the read-audit log's last
    /// link): kept somewhere this machine cannot write, it lets a later `--expect` prove
    /// the history up to it was neither rewritten nor cut.
    Verify {
        /// An anchor printed by an earlier run: the chain must still pass through it.
        #[arg(long, value_name = "ANCHOR")]
        expect: Option<crate::journal::verify::Anchor>,
        /// Also replay the journal from its first entry and check that the state the data
        /// directory starts from (its state image or snapshot) is that state: the chain
        /// vouches for the journal only. Takes as long as `maas import` of the journal.
        #[arg(long)]
        replay: bool,
    },
}

/// What a core holds, as its snapshot would save it (every object, the audit window and
/// the chain head: more than the state digest, which leaves the audit trail out), hashed.
/// Two cores at one entry hold the same when these are equal.
fn held_hash(rt: &mut Runtime) -> Result<String, CliError> {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    rt.call(|c, s| c.maas_core_admin().call_snapshot_begin(s))?;
    while let Some(chunk) = rt.call(|c, s| c.maas_core_admin().call_snapshot_next(s, 1 << 20))? {
        hash.update(&chunk);
    }
    Ok(maas_core::audit::hex(&hash.finalize()))
}

/// Whether what the data directory at `dir` starts from (its state image or snapshot,
/// then the entries after it) is what its journal replays to from the first entry, up to
/// the same entry: a description of the difference if not. The audit chain vouches for
/// the journal; nothing else vouches for an image or a snapshot, which a copied or edited
/// data directory may have replaced (an agent the journal never registered would then be
/// served, or an audit window rewritten). The replay reads the journal page by page.
fn replay_differs(
    dir: &std::path::Path,
    limits: admin::Limits,
) -> Result<Option<String>, CliError> {
    let mut started = crate::datadir::open(dir, limits)?;
    let head = started.appended();
    let started_hash = held_hash(&mut started)?;
    drop(started);
    let journal = crate::journal::replay::ReplayOnly::new(crate::datadir::open_journal(dir)?, head);
    let options = crate::RuntimeOptions {
        limits,
        snapshot_every: 0,
        progress: true,
        ..crate::RuntimeOptions::default()
    };
    let mut replayed = Runtime::new(
        crate::runtime::CoreImage::shared()?,
        Box::new(journal),
        options,
    )?;
    let replayed_hash = held_hash(&mut replayed)?;
    Ok((started_hash != replayed_hash).then(|| {
        format!(
            "the state the data directory starts from (its state image or snapshot, at \
             entry {head}) is not the state its journal replays to (its objects or its \
             audit window differ: {} against {}): an image or a snapshot was replaced or \
             damaged",
            short_digest(&started_hash),
            short_digest(&replayed_hash)
        )
    }))
}

fn short_digest(d: &str) -> &str {
    d.get(..12).unwrap_or(d)
}

/// Walks the audit chain of the data directory at `dir`; with `replay`, then checks the
/// state it starts from against a replay of its journal.
pub fn audit_verify(
    dir: &std::path::Path,
    expect: Option<&crate::journal::verify::Anchor>,
    replay: Option<admin::Limits>,
) -> Result<Rendered, CliError> {
    let fail = |e: crate::journal::JournalError| {
        CliError::io(format!("journal: {e}"), "check the data directory")
    };
    let mut journal = crate::datadir::open_journal(dir)?;
    let r = crate::journal::verify::verify_against(journal.as_mut(), expect).map_err(fail)?;
    let mut summary = format!(
        "{} journal audit record(s) and {} read(s) checked",
        r.journal_records, r.reads,
    );
    if r.set_aside_reads > 0 {
        summary.push_str(&format!(
            "; {} read-audit row(s) name entries set aside (table `damaged`): checked \
             against those entries, no longer the journal's",
            r.set_aside_reads
        ));
    }
    if r.unsure_reads > 0 {
        summary.push_str(&format!(
            "; {} read-audit row(s) name entries set aside at or after a damaged one: \
             their links hold, the history they saw cannot be checked (a journal cut short, \
             its tail claimed set aside, would read the same way: `--expect` an anchor kept \
             elsewhere to rule that out)",
            r.unsure_reads
        ));
    }
    if r.unchained > 0 {
        summary.push_str(&format!(
            "; {} written before the chain existed, not checkable",
            r.unchained
        ));
    }
    if let Some(broken) = r.broken {
        return Err(CliError::Local {
            message: format!("the audit chain is broken at {broken}"),
            code: "audit_broken",
            hint: Some(format!(
                "{summary} before it; restore the data directory from a backup or export"
            )),
        });
    }
    if let Some(limits) = replay {
        if let Some(differs) = replay_differs(dir, limits)? {
            return Err(CliError::Local {
                message: differs,
                code: "state_differs",
                hint: Some(format!(
                    "the audit chain itself is intact ({summary}); export the journal and \
                     import it into a new data directory (`maas export | maas --data-dir NEW \
                     import -`), which starts from the journal alone"
                )),
            });
        }
        summary.push_str("; the state it starts from is the one its journal replays to");
    }
    let anchor = r.anchor.as_ref().map(ToString::to_string);
    let mut text = format!("audit chain intact: {summary}\n");
    if let Some(a) = expect {
        let read = a
            .read
            .as_ref()
            .map(|(row, _)| format!(" and read-audit row {row}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "it passes through the anchor at journal entry {}{read}\n",
            a.seq
        ));
    }
    if let Some(a) = &anchor {
        text.push_str(&format!(
            "anchor: {a}\n(keep it where this machine cannot write; `maas audit verify --expect` \
             with it shows later that the history up to it is unchanged)\n"
        ));
    }
    Ok(Rendered::new(
        json!({
            "intact": true,
            "state_replayed": replay.is_some(),
            "journal_records": r.journal_records,
            "reads": r.reads,
            "unchained": r.unchained,
            "set_aside_reads": r.set_aside_reads,
            "unsure_reads": r.unsure_reads,
            "anchor": anchor,
            "expected": expect.map(ToString::to_string),
        }),
        text,
    ))
}

/// Runs a security verb on a core with no state of its own.
pub fn security(cmd: SecurityCmd, rt: &mut Runtime) -> Result<Rendered, CliError> {
    match cmd {
        SecurityCmd::Check { text } => {
            let text = text_arg(text, "text")?;
            let suspicious = rt.call(|c, s| c.maas_core_security().call_is_suspicious(s, &text))?;
            Ok(Rendered::new(
                json!({"suspicious": suspicious}),
                fields(&[("suspicious", suspicious.to_string())]),
            ))
        }
        SecurityCmd::Sanitize { text } => {
            let text = text_arg(text, "text")?;
            let out = rt.call(|c, s| c.maas_core_security().call_sanitize(s, &text))?;
            Ok(Rendered::new(json!({"text": out}), out))
        }
        SecurityCmd::Analyze { text } => {
            let text = text_arg(text, "text")?;
            let a = rt.call(|c, s| c.maas_core_security().call_analyze_query(s, &text))?;
            Ok(Rendered::new(
                json!({"score": a.score, "suspicious": a.suspicious, "reasons": a.reasons}),
                fields(&[
                    ("score", format!("{:.2}", a.score)),
                    ("suspicious", a.suspicious.to_string()),
                    ("reasons", crate::render::joined(&a.reasons)),
                ]),
            ))
        }
        SecurityCmd::Filter { text } => {
            let text = text_arg(text, "text")?;
            let out = rt.call(|c, s| c.maas_core_security().call_filter_output(s, &text))?;
            Ok(Rendered::new(json!({"text": out}), out))
        }
        SecurityCmd::Validate { text } => {
            let text = text_arg(text, "text")?;
            let notes = rt.call(|c, s| {
                c.maas_core_security()
                    .call_validate_memory_content(s, &text)
            })?;
            // Valid means it would be stored; the notes say how (redacted, flagged).
            let mut rows = vec![("valid", "true".to_string())];
            rows.extend(crate::ops::memories::notes_rows(&notes));
            Ok(Rendered::new(
                crate::wire::with_notes(json!({"valid": true}), &notes),
                fields(&rows),
            ))
        }
    }
}

/// Reads the audit trail.
pub fn audit(args: AuditArgs, ctx: &mut Ctx) -> Result<Rendered, CliError> {
    ctx.run(args.filter)
}

fn limits_rows(l: &admin::Limits) -> Vec<(String, u64)> {
    crate::datadir::limit_values(l)
        .into_iter()
        .map(|(key, v)| (key.replace('-', "_"), v))
        .collect()
}

fn counts_rows(c: &admin::Counts) -> Vec<(&'static str, u64)> {
    vec![
        ("seq", c.seq),
        ("agents", c.agents),
        ("active_agents", c.active_agents),
        ("sessions", c.sessions),
        ("pools", c.pools),
        ("memories", c.memories),
        ("shares", c.shares),
        ("handoffs", c.handoffs),
        ("pending_handoffs", c.pending_handoffs),
        ("kept_handoffs", c.kept_handoffs),
        ("documents", c.documents),
        ("audit_entries", c.audit_entries),
        ("heap_bytes", c.heap_bytes),
    ]
}

fn object<K: AsRef<str>>(rows: &[(K, u64)]) -> Value {
    Value::Object(
        rows.iter()
            .map(|(k, v)| (k.as_ref().to_string(), json!(v)))
            .collect(),
    )
}

fn text_rows<K: AsRef<str>>(rows: &[(K, u64)]) -> String {
    fields(
        &rows
            .iter()
            .map(|(k, v)| (k.as_ref(), v.to_string()))
            .collect::<Vec<_>>(),
    )
}

/// Counts of live objects and the limits in force.
pub fn stats(ctx: &mut Ctx) -> Result<Rendered, CliError> {
    let counts = ctx.call(|c, s, who| c.maas_core_admin().call_stats(s, who))?;
    let limits = ctx
        .rt
        .call_plain(|c, s| c.maas_core_admin().call_current_limits(s))?;
    let (counts, limits) = (counts_rows(&counts), limits_rows(&limits));
    Ok(Rendered::new(
        json!({"counts": object(&counts), "limits": object(&limits)}),
        format!(
            "counts\n{}\nlimits\n{}",
            crate::render::indent(&text_rows(&counts), "  "),
            crate::render::indent(&text_rows(&limits), "  ")
        ),
    ))
}
