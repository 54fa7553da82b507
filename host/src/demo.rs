//! `maas demo`: the original design's complete example, played step by step in a fresh
//! data directory of its own, each step acting as the principal who would really take
//! it (the operator, or an agent signed in with its token), ending with the audit trail.

use crate::cli::output::{Rendered, fields, indent, rfc3339};
use crate::cli::{
    CliError, Ctx, handoffs as handoff_cli, memories as memory_cli, misc, pools as pool_cli,
};
use crate::datadir;
use crate::wire::{self, Wire};
use crate::{Clock, admin, agents, audit, handoffs, memories, pools, types};
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
    datadir::ensure(&runs)?;
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
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
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
    let req = agents::RegistrationRequest {
        agent_type,
        owner_id: OWNER.to_string(),
        agent_id: Some(id.to_string()),
        capabilities: None,
        metadata: Some(json!({"demo": true}).to_string()),
    };
    let reg = crate::cli::agents::register(ctx, &req)?;
    let shown = format!(
        "{}… (shown once, stored hashed)",
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

    let req = pools::PoolRequest {
        name: POOL.to_string(),
        owner_id: OWNER.to_string(),
        scope: types::Scope::Project,
        team: None,
        pool_id: Some(POOL.to_string()),
        metadata: None,
    };
    act_as(&mut ctx, &operator);
    let r = pool_cli::create(&mut ctx, None, &req)?;
    show.step(
        "operator",
        &format!("create pool {POOL} (scope project, owner {OWNER})"),
        r,
    )?;

    for (who, id) in [(&backend, BACKEND), (&frontend, FRONTEND)] {
        act_as(&mut ctx, who);
        let r = pool_cli::join(&mut ctx, POOL, id, types::Permission::Write)?;
        show.step(id, &format!("join {POOL} with write permission"), r)?;
    }

    act_as(&mut ctx, &backend);
    let store = memories::StoreRequest {
        agent_id: BACKEND.to_string(),
        content: API_SPEC.to_string(),
        kind: memories::MemoryKind::Decision,
        tags: vec!["api".to_string(), "auth".to_string()],
        memory_id: Some(MEMORY.to_string()),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    let r = memory_cli::store(&mut ctx, &store)?;
    show.step(
        BACKEND,
        &format!("store memory {MEMORY} (decision, tags api, auth)"),
        r,
    )?;
    let r = pool_cli::share(&mut ctx, POOL, MEMORY, BACKEND, types::Scope::Project)?;
    show.step(
        BACKEND,
        &format!("share {MEMORY} into {POOL} at project scope"),
        r,
    )?;

    act_as(&mut ctx, &frontend);
    let r = pool_cli::query(&mut ctx, POOL, FRONTEND, types::Scope::Global)?;
    show.step(FRONTEND, &format!("query the memories shared in {POOL}"), r)?;

    act_as(&mut ctx, &backend);
    let context = handoffs::HandoffContext {
        task_description: TASK.to_string(),
        current_state: STATE.to_string(),
        relevant_memories: vec![MEMORY.to_string()],
        relevant_files: vec![FILE.to_string()],
    };
    let handoff = ctx.call(|c, s, who| {
        c.maas_core_handoffs()
            .call_initiate(s, who, BACKEND, FRONTEND, &context, None)
    })?;
    let id = handoff.id.clone();
    show.step(
        BACKEND,
        &format!("hand the task over to {FRONTEND}"),
        handoff_cli::rendered(&handoff),
    )?;

    act_as(&mut ctx, &frontend);
    let pending = ctx.call(|c, s, who| c.maas_core_handoffs().call_pending(s, who, FRONTEND))?;
    show.step(
        FRONTEND,
        "look at its pending handoffs",
        handoff_cli::list_rendered(FRONTEND, &pending),
    )?;
    let accepted =
        ctx.call(|c, s, who| c.maas_core_handoffs().call_accept(s, who, &id, FRONTEND))?;
    show.step(
        FRONTEND,
        "accept the handoff: it now sees the context and the memory",
        handoff_cli::accepted_rendered(&accepted),
    )?;
    let done = ctx.call(|c, s, who| {
        c.maas_core_handoffs()
            .call_complete(s, who, &id, FRONTEND, Some(RESULT))
    })?;
    show.step(
        FRONTEND,
        &format!("complete it with {RESULT}"),
        short(&done),
    )?;

    act_as(&mut ctx, &backend);
    let last = ctx.call(|c, s, who| c.maas_core_handoffs().call_get(s, who, &id))?;
    show.step(BACKEND, "check the final status", short(&last))?;

    act_as(&mut ctx, &operator);
    let filter = audit::AuditFilter {
        agent_id: None,
        event_type: None,
        since: None,
        until: None,
        limit: Some(1000),
    };
    let entries = ctx.call(|c, s, who| c.maas_core_audit().call_query(s, who, &filter))?;
    show.step(
        "operator",
        "read the audit trail of this run",
        Rendered::new(
            json!({"entries": entries.iter().map(wire::audit_entry).collect::<Vec<_>>()}),
            misc::audit_table(&entries),
        ),
    )?;

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
                    .map(crate::cli::output::compact)
                    .unwrap_or_else(|| "-".into()),
            ),
            ("updated_at", rfc3339(h.updated_at)),
        ]),
    )
}
