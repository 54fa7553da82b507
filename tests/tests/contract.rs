//! The built core exports exactly the interfaces and functions the WIT files declare, and
//! imports the journal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use maas_tests::CoreImage;
use std::collections::{BTreeMap, BTreeSet};
use wasmtime::component::types::ComponentItem;

/// Interface name to its function names, read from `wit/<interface>.wit`.
fn declared() -> BTreeMap<String, BTreeSet<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut current: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("interface ") {
                current = Some(rest.trim_end_matches(" {").to_string());
                out.entry(current.clone().unwrap())
                    .or_insert_with(BTreeSet::new);
            } else if let (Some(iface), Some((name, _))) = (&current, line.split_once(": func(")) {
                out.get_mut(iface)
                    .unwrap()
                    .insert(name.trim_start_matches('%').to_string());
            }
        }
    }
    out
}

#[test]
fn the_core_exports_every_declared_function_and_imports_the_journal() {
    let image = CoreImage::shared().unwrap();
    let engine = image.engine();
    let ty = image.component().component_type();
    let declared = declared();
    let mut exported = BTreeMap::new();
    for (name, item) in ty.exports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let iface = name
            .strip_prefix("maas:core/")
            .and_then(|n| n.strip_suffix("@0.1.0"))
            .unwrap_or_else(|| panic!("unexpected export {name}"))
            .to_string();
        let funcs: BTreeSet<String> = instance
            .exports(engine)
            .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
            .map(|(n, _)| n.to_string())
            .collect();
        exported.insert(iface, funcs);
    }
    for iface in [
        "types",
        "records",
        "admin",
        "agents",
        "pools",
        "memories",
        "handoffs",
        "knowledge",
        "security",
        "audit",
    ] {
        assert_eq!(
            exported.get(iface),
            declared.get(iface),
            "interface {iface}: exported functions differ from wit/{iface}.wit"
        );
    }
    assert!(exported.get("agents").unwrap().contains("register"));
    assert!(exported.get("handoffs").unwrap().contains("accept"));
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    assert!(
        imports.iter().any(|n| n == "maas:core/journal@0.1.0"),
        "imports: {imports:?}"
    );
    assert!(
        !exported.contains_key("journal"),
        "the journal is imported, not exported"
    );
}

/// The wire strings the host prints and parses (`maas_host::wire`) are the core's own
/// (`maas_core::model`), value for value and in the same order.
#[test]
fn host_and_core_agree_on_every_wire_string() {
    use maas_core::model;
    use maas_host::wire::Wire;
    use maas_host::{agents, handoffs, knowledge, memories, types};

    fn core<T: Copy>(all: &[T], s: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|v| s(*v)).collect()
    }
    let pairs: [(&str, Vec<&str>, &[&str]); 7] = [
        (
            "scope",
            core(model::Scope::ALL, model::Scope::as_str),
            types::Scope::CHOICES,
        ),
        (
            "permission",
            core(model::Permission::ALL, model::Permission::as_str),
            types::Permission::CHOICES,
        ),
        (
            "agent type",
            core(model::AgentType::ALL, model::AgentType::as_str),
            agents::AgentType::CHOICES,
        ),
        (
            "capability",
            core(model::Capability::ALL, model::Capability::as_str),
            agents::Capability::CHOICES,
        ),
        (
            "memory kind",
            core(model::MemoryKind::ALL, model::MemoryKind::as_str),
            memories::MemoryKind::CHOICES,
        ),
        (
            "handoff status",
            core(model::HandoffStatus::ALL, model::HandoffStatus::as_str),
            handoffs::HandoffStatus::CHOICES,
        ),
        (
            "document kind",
            core(model::DocumentKind::ALL, model::DocumentKind::as_str),
            knowledge::DocumentKind::CHOICES,
        ),
    ];
    for (what, core, host) in pairs {
        assert_eq!(core, host, "{what}");
    }
}
