//! `maas demo`: the original design's complete example, played step by step in a fresh
//! data directory of its own, each step acting as the principal who would really take
//! it (the operator, or an agent signed in with its token), ending with the audit trail.

use crate::cli::{CliError, Ctx};
use crate::datadir;
use crate::ops;
use crate::render::{Rendered, fields, indent, rfc3339};
use crate::wire::{self, Wire};
use crate::{Clock, admin, agents, handoffs, types};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

const OWNER: &str = "user-123";
const BACKEND: &str = "claude-backend";
const FRONTEND: &str = "gpt-frontend";
const POOL: &str = "feature-auth";
const MEMORY: &str = "mem-api-design";
const API_SPEC: &str = "POST /api/auth/login takes {email, password} and returns a JWT access token \
                        (15 min) and a refresh token; POST /api/auth/refresh rotates it.";
const TASK: &str = "Implement login UI using the API spec";
const STATE: &str =
    r#"{"backend_done": true, "endpoints": ["/api/auth/login", "/api/auth/refresh"]}"#;
const FILE: &str = "src/api/auth.py";
const RESULT: &str = r#"{"status": "success"}"#;
const STEPS: usize = 15;

/// Prints steps as they happen (text) or collects them into one document (`--json`).
struct Show<'a> {
    out: &'a mut dyn Write,
    json: bool,
    done: usize,
    steps: Vec<Value>,
}

impl Show<'_> {
    fn text(&mut self, text: &str) -> Result<(), CliError> {
        if self.json {
            return Ok(());
        }
        match writeln!(self.out, "{text}") {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::io(
                format!("cannot write the output: {e}"),
                "check where stdout goes",
            )),
            _ => Ok(()),
        }
    }

    fn step(&mut self, actor: &str, action: &str, result: Rendered) -> Result<(), CliError> {
        self.done += 1;
        let n = self.done;
        if self.json {
            self.steps
                .push(json!({"step": n, "actor": actor, "action": action, "result": result.json}));
            return Ok(());
        }
        self.text(&format!("\n[{n:>2}/{STEPS}] {actor}: {action}"))?;
        self.text(&indent(result.text.trim_end(), "        "))
    }
}

/// Creates `<base>/demo-runs/<unix-ms>` (with a suffix if that exists already).
fn fresh_dir(base: &Path) -> Result<PathBuf, CliError> {
    let runs = base.join("demo-runs");
    // The data directory as any command takes it, then its own directory of runs (not a
    // link someone put there: see `owned`).
    datadir::ensure(base)?;
    crate::owned::dir(&runs).map_err(|e| {
        CliError::io(
            format!("cannot use {}: {e}", runs.display()),
            "remove it if maas did not make it (another user may have)",
        )
    })?;
    let stamp = Clock::System.now_ms();
    for attempt in 0..100u32 {
        let dir = match attempt {
            0 => runs.join(stamp.to_string()),
            n => runs.join(format!("{stamp}-{n}")),
        };
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(CliError::io(
                    format!("cannot create {}: {e}", dir.display()),
                    "choose a writable data directory with --data-dir",
                ));
            }
        }
    }
    Err(CliError::io(
        format!("no free demo directory under {}", runs.display()),
        "remove old runs from demo-runs/",
    ))
}

/// A path as it can be pasted into a shell.
fn quoted(path: &Path) -> String {
    crate::render::shell_quoted_path(path)
}

/// Makes every following call act as `caller`.
fn act_as(ctx: &mut Ctx, caller: &types::Caller) {
    ctx.caller = caller.clone();
    ctx.token_agent = match caller {
        types::Caller::Agent(id) => Some(id.clone()),
        types::Caller::Operator => None,
    };
}

fn register(
    ctx: &mut Ctx,
    id: &str,
    agent_type: agents::AgentType,
) -> Result<(String, Rendered), CliError> {
    let mut op = ops::agents::RegisterAgent {
        agent_type: agent_type.wire().to_string(),
        owner_id: OWNER.to_string(),
        agent_id: Some(id.to_string()),
        capabilities: None,
        metadata: Some(json!({"demo": true})),
    };
    let reg = ops::invoke(&mut op, &mut ctx.rt, &ctx.caller)?;
    let shown = format!(
        "{}… (cut here; `maas agent register` shows a token once, in full; it is stored hashed)",
        reg.token.chars().take(13).collect::<String>()
    );
    let rendered = Rendered::new(
        json!({"agent_id": reg.agent_id, "agent_type": agent_type.wire(), "owner_id": OWNER, "status": "registered"}),
        fields(&[
            ("agent_id", reg.agent_id.clone()),
            ("agent_type", agent_type.wire().to_string()),
            ("owner_id", OWNER.to_string()),
            ("token", shown),
        ]),
    );
    Ok((reg.token, rendered))
}

fn sign_in(ctx: &mut Ctx, token: &str) -> Result<types::Caller, CliError> {
    let id = ctx.call(|c, s, _| c.maas_core_agents().call_authenticate(s, token))?;
    Ok(types::Caller::Agent(id))
}

/// Plays the example in a fresh directory under `base`.
pub fn run(
    base: &Path,
    limits: admin::Limits,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let dir = fresh_dir(base)?;
    let mut show = Show {
        out,
        json,
        done: 0,
        steps: Vec::new(),
    };
    let inspect = format!("maas --data-dir {} audit", quoted(&dir));
    show.text("maas demo: two agents share an API design through a pool and hand over a task.")?;
    show.text(
        fields(&[
            ("data dir", dir.display().to_string()),
            ("inspect", inspect.clone()),
        ])
        .trim_end(),
    )?;

    let mut ctx = Ctx {
        rt: datadir::open(&dir, limits)?,
        caller: types::Caller::Operator,
        token_agent: None,
    };
    let operator = types::Caller::Operator;

    let (backend_token, r) = register(&mut ctx, BACKEND, agents::AgentType::ClaudeCode)?;
    show.step(
        "operator",
        &format!("register {BACKEND} (claude_code) for {OWNER}"),
        r,
    )?;
    let (frontend_token, r) = register(&mut ctx, FRONTEND, agents::AgentType::GptAgent)?;
    show.step(
        "operator",
        &format!("register {FRONTEND} (gpt_agent) for {OWNER}"),
        r,
    )?;

    let backend = sign_in(&mut ctx, &backend_token)?;
    let frontend = sign_in(&mut ctx, &frontend_token)?;
    show.step(
        "agents",
        "sign in with their tokens; from here on each acts only as itself",
        Rendered::new(
            json!({"authenticated": [BACKEND, FRONTEND]}),
            fields(&[
                (BACKEND, "authenticated".into()),
                (FRONTEND, "authenticated".into()),
            ]),
        ),
    )?;

    act_as(&mut ctx, &operator);
    let r = ctx.run(ops::pools::CreatePool {
        name: POOL.to_string(),
        owner_id: OWNER.to_string(),
        scope: "project".to_string(),
        pool_id: Some(POOL.to_string()),
        metadata: None,
        team: None,
        agent_id: None,
    })?;
    show.step(
        "operator",
        &format!("create pool {POOL} (scope project, owner {OWNER})"),
        r,
    )?;

    for (who, id) in [(&backend, BACKEND), (&frontend, FRONTEND)] {
        act_as(&mut ctx, who);
        let r = ctx.run(ops::pools::JoinPool {
            pool_id: POOL.to_string(),
            agent_id: id.to_string(),
            permission: "write".to_string(),
        })?;
        show.step(id, &format!("join {POOL} with write permission"), r)?;
    }

    act_as(&mut ctx, &backend);
    let r = ctx.run(ops::memories::StoreMemory {
        agent_id: Some(BACKEND.to_string()),
        content: API_SPEC.to_string(),
        memory_type: "decision".to_string(),
        tags: Some(vec!["api".to_string(), "auth".to_string()]),
        memory_id: Some(MEMORY.to_string()),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    })?;
    show.step(
        BACKEND,
        &format!("store memory {MEMORY} (decision, tags api, auth)"),
        r,
    )?;
    let r = ctx.run(ops::shares::ShareMemoryToScope {
        pool_id: POOL.to_string(),
        memory_id: MEMORY.to_string(),
        agent_id: Some(BACKEND.to_string()),
        scope: "project".to_string(),
    })?;
    show.step(
        BACKEND,
        &format!("share {MEMORY} into {POOL} at project scope"),
        r,
    )?;

    act_as(&mut ctx, &frontend);
    let r = ctx.run(ops::shares::QueryShared {
        pool_id: POOL.to_string(),
        agent_id: Some(FRONTEND.to_string()),
        max_scope: None,
        limit: None,
        cursor: None,
    })?;
    show.step(FRONTEND, &format!("query the memories shared in {POOL}"), r)?;

    act_as(&mut ctx, &backend);
    let (r, handoff) = ctx.run_out(ops::handoffs::InitiateHandoff {
        source_agent_id: Some(BACKEND.to_string()),
        target_agent_id: FRONTEND.to_string(),
        task_description: TASK.to_string(),
        current_state: serde_json::from_str(STATE).ok(),
        relevant_memories: Some(vec![MEMORY.to_string()]),
        relevant_files: Some(vec![FILE.to_string()]),
        ttl_seconds: None,
    })?;
    let id = handoff.id.clone();
    show.step(BACKEND, &format!("hand the task over to {FRONTEND}"), r)?;

    act_as(&mut ctx, &frontend);
    let r = ctx.run(ops::handoffs::GetPendingHandoffs {
        agent_id: Some(FRONTEND.to_string()),
        limit: None,
        cursor: None,
    })?;
    show.step(FRONTEND, "look at its pending handoffs", r)?;
    let r = ctx.run(ops::handoffs::AcceptHandoff {
        handoff_id: id.clone(),
        agent_id: Some(FRONTEND.to_string()),
    })?;
    show.step(
        FRONTEND,
        "accept the handoff: it now sees the context and the memory",
        r,
    )?;
    let (_, done) = ctx.run_out(ops::handoffs::CompleteHandoff {
        handoff_id: id.clone(),
        agent_id: Some(FRONTEND.to_string()),
        result: serde_json::from_str(RESULT).ok(),
    })?;
    show.step(
        FRONTEND,
        &format!("complete it with {RESULT}"),
        short(&done),
    )?;

    act_as(&mut ctx, &backend);
    let (_, last) = ctx.run_out(ops::handoffs::GetHandoff {
        handoff_id: id.clone(),
    })?;
    show.step(BACKEND, "check the final status", short(&last))?;

    act_as(&mut ctx, &operator);
    let r = ctx.run(ops::audit::GetAuditLog {
        agent_id: None,
        event_type: None,
        since: None,
        until: None,
        limit: Some(1000),
    })?;
    show.step("operator", "read the audit trail of this run", r)?;

    let status = last.status.wire();
    show.text(&format!(
        "\nDone: handoff {id} is {status}. The run is kept in {}.\nInspect it:\n  {inspect}\n  maas --data-dir {} handoff list --agent {FRONTEND}",
        dir.display(),
        quoted(&dir)
    ))?;
    if json {
        let doc = json!({
            "data_dir": dir.display().to_string(),
            "inspect": inspect,
            "handoff_id": id,
            "status": status,
            "steps": show.steps,
        });
        crate::cli::write(&Rendered::new(doc, String::new()), true, show.out)?;
    }
    Ok(())
}

/// The lines of a handoff that change as it moves.
fn short(h: &handoffs::Handoff) -> Rendered {
    Rendered::new(
        wire::handoff(h),
        fields(&[
            ("handoff_id", h.id.clone()),
            ("status", h.status.wire().to_string()),
            (
                "result",
                h.result
                    .as_deref()
                    .map(crate::render::compact)
                    .unwrap_or_else(|| "-".into()),
            ),
            ("updated_at", rfc3339(h.updated_at)),
        ]),
    )
}
