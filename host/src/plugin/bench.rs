//! `maas plugin bench`: one plugin-to-core call against the same call made by the host,
//! and plugin start-up. Medians of batches over an in-memory core; nothing asserts a
//! timing.

use super::{Binding, CoreAccess, Grants, PluginEngine, PluginError, PluginLimits};
use crate::bindings::{agents, types};
use crate::{Runtime, RuntimeOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// What `maas plugin bench` measured.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Compiling and linking the plugin (or loading it from the compile cache).
    pub load: Duration,
    /// The host calling the core directly (`agents.get`), per call.
    pub host_call: Duration,
    /// The plugin calling the core (`whoami`, forwarded as `agents.get`), per call.
    pub plugin_call: Duration,
    /// Entering and leaving the plugin's `run` with no core call.
    pub run_empty: Duration,
    /// Binding check, new store and instantiation.
    pub start: Duration,
    /// Core calls per batch in the plugin measurement.
    pub calls_per_run: u64,
}

impl Figures {
    /// Plugin call cost over host call cost.
    pub fn ratio(&self) -> f64 {
        self.plugin_call.as_secs_f64() / self.host_call.as_secs_f64().max(1e-12)
    }

    /// The figures as JSON (microseconds).
    pub fn json(&self) -> Value {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        json!({
            "load_us": us(self.load),
            "host_call_us": us(self.host_call),
            "plugin_call_us": us(self.plugin_call),
            "ratio": self.ratio(),
            "run_empty_us": us(self.run_empty),
            "start_us": us(self.start),
            "calls_per_run": self.calls_per_run,
        })
    }

    /// The figures for a person.
    pub fn text(&self) -> String {
        let us = |d: Duration| format!("{:.2} µs", d.as_secs_f64() * 1e6);
        format!(
            "plugin load (compile or cache, link): {}\n\
             host -> core call (agents.get):        {}\n\
             plugin -> core call (whoami):          {}  ({:.2}x the host call)\n\
             plugin run with no core call:          {}\n\
             plugin start (bind, store, instance):  {}\n\
             (medians; plugin call = (run of {} calls - empty run) / {})",
            us(self.load),
            us(self.host_call),
            us(self.plugin_call),
            self.ratio(),
            us(self.run_empty),
            us(self.start),
            self.calls_per_run,
            self.calls_per_run,
        )
    }
}

fn median(
    rounds: usize,
    mut f: impl FnMut() -> Result<Duration, PluginError>,
) -> Result<Duration, PluginError> {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        samples.push(f()?);
    }
    samples.sort();
    Ok(samples.get(samples.len() / 2).copied().unwrap_or_default())
}

/// Measures with the `call-loop` plugin at `plugin`, `rounds` batches each.
pub fn run(plugin: &Path, rounds: usize) -> Result<Figures, PluginError> {
    const CALLS: u64 = 200;
    let mut rt = Runtime::in_memory(RuntimeOptions::default()).map_err(PluginError::Bind)?;
    let request = agents::RegistrationRequest {
        agent_type: agents::AgentType::ClaudeCode,
        owner_id: "bench".into(),
        agent_id: Some("bench-agent".into()),
        capabilities: None,
        metadata: None,
    };
    rt.call(|c, s| {
        c.maas_core_agents()
            .call_register(s, &types::Caller::Operator, &request)
    })
    .map_err(PluginError::Bind)?;
    let core = CoreAccess::shared(rt);
    let caller = types::Caller::Agent("bench-agent".into());

    let host_call = median(rounds, || {
        let start = Instant::now();
        for _ in 0..CALLS {
            let caller = caller.clone();
            core.call(move |rt| {
                rt.call(|c, s| c.maas_core_agents().call_get(s, &caller, "bench-agent"))
            })
            .map_err(PluginError::Bind)?;
        }
        Ok(start.elapsed() / u32::try_from(CALLS).unwrap_or(1))
    })?;

    let engine = PluginEngine::new()?;
    let begin = Instant::now();
    let image = engine.load(plugin)?;
    let load = begin.elapsed();
    let binding = Binding {
        core,
        agent: "bench-agent".into(),
        // The default limits, with the calls one batch makes: any plugin given here
        // runs within them (a run that exceeds them fails the measurement).
        limits: PluginLimits {
            calls: CALLS,
            ..PluginLimits::default()
        },
        grants: Grants::default(),
    };
    let start = median(rounds, || {
        let begin = Instant::now();
        let instance = image.start(&binding)?;
        let took = begin.elapsed();
        drop(instance);
        Ok(took)
    })?;
    let mut instance = image.start(&binding)?;
    let empty = ["0".to_string()];
    let full = [CALLS.to_string()];
    let run_empty = median(rounds, || {
        let begin = Instant::now();
        instance.run(&empty)?;
        Ok(begin.elapsed())
    })?;
    let run_full = median(rounds, || {
        let begin = Instant::now();
        instance.run(&full)?;
        Ok(begin.elapsed())
    })?;
    let plugin_call = run_full.saturating_sub(run_empty) / u32::try_from(CALLS).unwrap_or(1);
    Ok(Figures {
        load,
        host_call,
        plugin_call,
        run_empty,
        start,
        calls_per_run: CALLS,
    })
}
