//! Shared by the plugin tests: the example plugins, built on first use (Rust ones with a
//! nested cargo into `<target>/plugins`, the JavaScript one with npm), and a core in
//! memory with the calls the tests make as the operator or as an agent.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use maas_host::bindings::{Maas, agents, audit, handoffs, memories, pools, types};
use maas_host::plugin::{Binding, CoreAccess, Grants, PluginLimits};
use maas_host::runtime::HostState;
use maas_host::{Runtime, RuntimeOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use wasmtime::Store;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The target directory this test binary was built into (`<target>/debug/deps/<exe>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// The built Rust example plugin `name` (e.g. `handoff_triage`).
pub fn rust_plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = target_dir().join("plugins");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
            ])
            .arg("--manifest-path")
            .arg(root().join("plugins/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the example plugins failed");
        target.join("wasm32-wasip2/release")
    });
    dir.join(format!("{name}.wasm"))
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The JavaScript example plugin, built with componentize-js when missing or stale.
pub fn js_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = root().join("plugins/js-notes");
            let wasm = dir.join("notes.wasm");
            if !dir.join("node_modules").is_dir() {
                let ok = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund"])
                    .current_dir(&dir)
                    .status()
                    .expect("npm runs");
                assert!(ok.success(), "npm ci in plugins/js-notes failed");
            }
            let wit = std::fs::read_dir(root().join("wit"))
                .unwrap()
                .map(|e| e.unwrap().path());
            let newest_source = std::iter::once(dir.join("notes.js"))
                .chain(wit)
                .filter_map(|p| modified(&p))
                .max();
            if modified(&wasm).is_none() || modified(&wasm) < newest_source {
                let ok = Command::new("npm")
                    .args(["run", "build"])
                    .current_dir(&dir)
                    .status()
                    .expect("npm runs");
                assert!(ok.success(), "building the JavaScript plugin failed");
            }
            wasm
        })
        .clone()
}

/// The operator.
pub fn op() -> types::Caller {
    types::Caller::Operator
}

/// An agent caller.
pub fn agent(id: &str) -> types::Caller {
    types::Caller::Agent(id.into())
}

/// A core in memory, shared with the plugins the test runs.
pub struct Core {
    pub access: CoreAccess,
}

impl Core {
    pub fn new() -> Self {
        Core {
            access: CoreAccess::shared(Runtime::in_memory(RuntimeOptions::default()).unwrap()),
        }
    }

    /// Calls the core the way the host does.
    pub fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Maas, &mut Store<HostState>) -> wasmtime::Result<Result<T, types::Error>>
        + Send
        + 'static,
    ) -> Result<T, types::Error> {
        self.access.call(move |rt| rt.call(f))
    }

    pub fn register(&self, id: &str, agent_type: agents::AgentType, owner: &str) {
        self.register_with(id, agent_type, owner, None);
    }

    pub fn register_with(
        &self,
        id: &str,
        agent_type: agents::AgentType,
        owner: &str,
        capabilities: Option<Vec<agents::Capability>>,
    ) {
        let request = agents::RegistrationRequest {
            agent_type,
            owner_id: owner.into(),
            agent_id: Some(id.into()),
            capabilities,
            metadata: None,
        };
        self.call(move |c, s| c.maas_core_agents().call_register(s, &op(), &request))
            .unwrap();
    }

    pub fn store(&self, author: &str, id: &str, content: &str) -> memories::Memory {
        let request = memories::StoreRequest {
            agent_id: author.into(),
            content: content.into(),
            kind: memories::MemoryKind::Fact,
            tags: vec![],
            memory_id: Some(id.into()),
            pool_id: None,
            scope: None,
            ttl_seconds: None,
        };
        let caller = agent(author);
        self.call(move |c, s| {
            c.maas_core_memories()
                .call_store_memory(s, &caller, &request)
        })
        .unwrap()
    }

    pub fn pool(&self, id: &str, owner: &str, members: &[(&str, types::Permission)]) {
        let request = pools::PoolRequest {
            name: id.into(),
            owner_id: owner.into(),
            scope: types::Scope::Global,
            team: None,
            pool_id: Some(id.into()),
            metadata: None,
        };
        self.call(move |c, s| c.maas_core_pools().call_create(s, &op(), None, &request))
            .unwrap();
        for (member, permission) in members {
            let (pool, member, permission) = (id.to_string(), member.to_string(), *permission);
            self.call(move |c, s| {
                c.maas_core_pools()
                    .call_join(s, &op(), &pool, &member, permission)
            })
            .unwrap();
        }
    }

    pub fn share(&self, pool: &str, memory: &str, by: &str, scope: types::Scope) {
        let (pool, memory, by) = (pool.to_string(), memory.to_string(), by.to_string());
        self.call(move |c, s| {
            c.maas_core_pools()
                .call_share(s, &agent(&by), &pool, &memory, &by, scope)
        })
        .unwrap();
    }

    pub fn initiate(&self, from: &str, to: &str, task: &str, memories: &[&str]) -> String {
        let context = handoffs::HandoffContext {
            task_description: task.into(),
            current_state: "{}".into(),
            relevant_memories: memories.iter().map(|m| m.to_string()).collect(),
            relevant_files: vec![],
        };
        let (from, to) = (from.to_string(), to.to_string());
        self.call(move |c, s| {
            c.maas_core_handoffs()
                .call_initiate(s, &agent(&from), &from, &to, &context, None)
        })
        .unwrap()
        .id
    }

    pub fn handoff(&self, id: &str) -> handoffs::Handoff {
        let id = id.to_string();
        self.call(move |c, s| c.maas_core_handoffs().call_get(s, &op(), &id))
            .unwrap()
    }

    pub fn digest(&self) -> String {
        self.call(|c, s| c.maas_core_admin().call_state_digest(s, &op()))
            .unwrap()
    }

    pub fn memory_count(&self) -> u64 {
        self.call(|c, s| c.maas_core_admin().call_stats(s, &op()))
            .unwrap()
            .memories
    }

    /// The audit entries whose actor is `actor`.
    pub fn audit_of(&self, actor: &str) -> Vec<audit::AuditEntry> {
        let filter = audit::AuditFilter {
            agent_id: Some(actor.into()),
            event_type: None,
            since: None,
            until: None,
            limit: Some(1000),
        };
        let actor = actor.to_string();
        self.call(move |c, s| c.maas_core_audit().call_query(s, &op(), &filter))
            .unwrap()
            .into_iter()
            .filter(|e| e.actor == actor)
            .collect()
    }

    /// A binding of `agent` with the default limits and no grants.
    pub fn bind(&self, agent: &str) -> Binding {
        Binding {
            core: self.access.clone(),
            agent: agent.into(),
            limits: PluginLimits::default(),
            grants: Grants::default(),
        }
    }
}
