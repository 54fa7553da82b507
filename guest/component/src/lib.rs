//! The maas core as a WebAssembly component. This file only wires the generated bindings
//! to `maas-core`; every decision is made there.

mod convert;
mod host;
mod image;

use convert::{from_wit as w, to_wit as t};
use exports::maas::core::{
    admin, agents, audit, changes, handoffs, knowledge, memories, pools, security, types,
};
use maas_core::page::PageRequest;
use maas_core::{Caller, Core, Limits, Result as CoreResult};
use std::cell::RefCell;

wit_bindgen::generate!({
    path: "../../wit",
    world: "maas",
});

#[global_allocator]
static ALLOC: image::ImageAlloc = image::ImageAlloc;

thread_local! {
    static CORE: RefCell<Core<host::WitJournal, host::WasiEnv>> =
        RefCell::new(Core::new(host::WitJournal::default(), host::WasiEnv, Limits::default()));
}

/// Runs `f` on the core and converts its error.
fn with<T>(
    f: impl FnOnce(&mut Core<host::WitJournal, host::WasiEnv>) -> CoreResult<T>,
) -> Result<T, types::Error> {
    CORE.with(|c| match c.try_borrow_mut() {
        Ok(mut core) => f(&mut core).map_err(t::error),
        Err(_) => Err(types::Error::Unavailable(
            "the core is busy (re-entrant call)".into(),
        )),
    })
}

fn caller(c: types::Caller) -> Caller {
    w::caller(c)
}

struct Component;

impl admin::Guest for Component {
    fn init(limits: admin::Limits) -> Result<admin::Counts, types::Error> {
        with(|core| core.init(w::limits(&limits))).map(t::stats)
    }
    fn snapshot_begin() -> Result<u64, types::Error> {
        with(|core| core.snapshot_begin())
    }
    fn snapshot_next(max_bytes: u32) -> Result<Option<Vec<u8>>, types::Error> {
        with(|core| core.snapshot_next(max_bytes))
    }
    fn restore_begin(seq: u64) -> Result<(), types::Error> {
        with(|core| core.restore_begin(seq))
    }
    fn restore_chunk(data: Vec<u8>) -> Result<(), types::Error> {
        with(|core| core.restore_chunk(&data))
    }
    fn restore_finish() -> Result<admin::Counts, types::Error> {
        with(|core| core.restore_finish()).map(t::stats)
    }
    fn image_begin() -> Result<admin::ImageInfo, types::Error> {
        let seq = with(|core| core.settle())?;
        Ok(admin::ImageInfo {
            memory_bytes: core::arch::wasm32::memory_size(0) as u64 * 65_536,
            seq,
        })
    }
    fn image_read(offset: u64, len: u32) -> Result<Vec<u8>, types::Error> {
        image::read(offset, len).map_err(image_error)
    }
    fn image_load_begin(memory_bytes: u64) -> Result<u64, types::Error> {
        image::load_begin(memory_bytes).map_err(image_error)
    }
    fn image_load(offset: u64, data: Vec<u8>) -> Result<(), types::Error> {
        image::load(offset, data).map_err(image_error)
    }
    fn image_load_place(offset: u64, len: u32) -> Result<bool, types::Error> {
        image::load_place(offset, len).map_err(image_error)
    }
    fn image_load_finish() -> Result<(), types::Error> {
        image::load_finish().map_err(image_error)
    }
    fn current_limits() -> admin::Limits {
        CORE.with(|c| c.try_borrow().map(|core| core.limits()).unwrap_or_default())
            .pipe(t::limits)
    }
    fn stats(c: types::Caller) -> Result<admin::Counts, types::Error> {
        with(|core| core.stats(&caller(c))).map(t::stats)
    }
    fn state_digest(c: types::Caller) -> Result<String, types::Error> {
        with(|core| core.state_digest(&caller(c)))
    }
    fn revoked_tokens(
        c: types::Caller,
        token_hashes: Vec<String>,
    ) -> Result<Vec<String>, types::Error> {
        with(|core| core.revoked_tokens(&caller(c), &token_hashes))
    }
    fn pools_of(c: types::Caller, agent_id: String) -> Result<Vec<String>, types::Error> {
        with(|core| core.pools_of(&caller(c), &agent_id))
    }
}

fn image_error(reason: String) -> types::Error {
    types::Error::InvalidInput(types::InvalidInfo {
        field: "image".into(),
        reason,
    })
}

/// `x.pipe(f)` is `f(x)`: keeps a chain readable.
trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

impl agents::Guest for Component {
    fn register(
        c: types::Caller,
        r: agents::RegistrationRequest,
    ) -> Result<agents::Registration, types::Error> {
        let req = w::registration(r);
        with(|core| core.register(&caller(c), &req)).map(|reg| agents::Registration {
            agent_id: reg.agent_id,
            token: reg.token,
        })
    }
    fn authenticate(token: String) -> Result<String, types::Error> {
        with(|core| core.authenticate(&token))
    }
    fn get(c: types::Caller, agent_id: String) -> Result<agents::Agent, types::Error> {
        with(|core| core.get_agent(&caller(c), &agent_id)).map(t::agent)
    }
    fn list_by_owner(
        c: types::Caller,
        owner_id: String,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<agents::AgentPage, types::Error> {
        let req = PageRequest { limit, cursor };
        with(|core| core.list_agents(&caller(c), &owner_id, &req)).map(t::agent_page)
    }
    fn deactivate(c: types::Caller, agent_id: String) -> Result<(), types::Error> {
        with(|core| core.deactivate(&caller(c), &agent_id))
    }
    fn reactivate(c: types::Caller, agent_id: String) -> Result<(), types::Error> {
        with(|core| core.reactivate(&caller(c), &agent_id))
    }
    fn rotate_token(c: types::Caller, agent_id: String) -> Result<String, types::Error> {
        with(|core| core.rotate_token(&caller(c), &agent_id))
    }
    fn unregister(c: types::Caller, agent_id: String) -> Result<(), types::Error> {
        with(|core| core.unregister(&caller(c), &agent_id))
    }
    fn start_session(c: types::Caller, agent_id: String) -> Result<agents::Session, types::Error> {
        with(|core| core.start_session(&caller(c), &agent_id)).map(t::session)
    }
    fn end_session(c: types::Caller, agent_id: String) -> Result<(), types::Error> {
        with(|core| core.end_session(&caller(c), &agent_id))
    }
    fn get_session(
        c: types::Caller,
        agent_id: String,
    ) -> Result<Option<agents::Session>, types::Error> {
        with(|core| core.get_session(&caller(c), &agent_id)).map(|s| s.map(t::session))
    }
}

impl pools::Guest for Component {
    fn create(
        c: types::Caller,
        agent_id: Option<String>,
        r: pools::PoolRequest,
    ) -> Result<pools::Pool, types::Error> {
        let req = w::pool_request(r);
        with(|core| core.create_pool(&caller(c), agent_id.as_deref(), &req)).map(t::pool)
    }
    fn get(c: types::Caller, pool_id: String) -> Result<pools::Pool, types::Error> {
        with(|core| core.get_pool(&caller(c), &pool_id)).map(t::pool)
    }
    fn list(
        c: types::Caller,
        owner_id: Option<String>,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<pools::PoolPage, types::Error> {
        let req = PageRequest { limit, cursor };
        with(|core| core.list_pools(&caller(c), owner_id.as_deref(), &req)).map(t::pool_page)
    }
    fn join(
        c: types::Caller,
        pool_id: String,
        agent_id: String,
        permission: types::Permission,
    ) -> Result<pools::Member, types::Error> {
        with(|core| core.join_pool(&caller(c), &pool_id, &agent_id, w::permission(permission)))
            .map(t::member)
    }
    fn leave(c: types::Caller, pool_id: String, agent_id: String) -> Result<(), types::Error> {
        with(|core| core.leave_pool(&caller(c), &pool_id, &agent_id))
    }
    fn remove_member(
        c: types::Caller,
        pool_id: String,
        acting_agent_id: Option<String>,
        member_id: String,
    ) -> Result<(), types::Error> {
        with(|core| {
            core.remove_member(&caller(c), &pool_id, acting_agent_id.as_deref(), &member_id)
        })
    }
    fn members(
        c: types::Caller,
        pool_id: String,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<pools::MemberPage, types::Error> {
        let req = PageRequest { limit, cursor };
        with(|core| core.members(&caller(c), &pool_id, &req)).map(t::member_page)
    }
    fn share(
        c: types::Caller,
        pool_id: String,
        memory_id: String,
        agent_id: String,
        scope: types::Scope,
    ) -> Result<pools::SharedMemory, types::Error> {
        with(|core| core.share(&caller(c), &pool_id, &memory_id, &agent_id, w::scope(scope)))
            .map(t::share)
    }
    fn unshare(
        c: types::Caller,
        pool_id: String,
        memory_id: String,
        agent_id: String,
    ) -> Result<(), types::Error> {
        with(|core| core.unshare(&caller(c), &pool_id, &memory_id, &agent_id))
    }
    fn query_shared(
        c: types::Caller,
        pool_id: String,
        agent_id: String,
        max_scope: types::Scope,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<pools::SharedMemoryPage, types::Error> {
        let req = PageRequest { limit, cursor };
        let scope = w::scope(max_scope);
        with(|core| core.query_shared(&caller(c), &pool_id, &agent_id, scope, &req))
            .map(t::share_page)
    }
    fn archive(
        c: types::Caller,
        pool_id: String,
        acting_agent_id: Option<String>,
    ) -> Result<(), types::Error> {
        with(|core| core.archive_pool(&caller(c), &pool_id, acting_agent_id.as_deref()))
    }
    fn delete(
        c: types::Caller,
        pool_id: String,
        acting_agent_id: Option<String>,
    ) -> Result<(), types::Error> {
        with(|core| core.delete_pool(&caller(c), &pool_id, acting_agent_id.as_deref()))
    }
}

impl memories::Guest for Component {
    fn store_memory(
        c: types::Caller,
        r: memories::StoreRequest,
    ) -> Result<memories::Memory, types::Error> {
        let req = w::store_request(r);
        with(|core| core.store_memory(&caller(c), &req)).map(t::memory)
    }
    fn get(
        c: types::Caller,
        agent_id: String,
        memory_id: String,
    ) -> Result<memories::Memory, types::Error> {
        with(|core| core.get_memory(&caller(c), &agent_id, &memory_id)).map(t::memory)
    }
    fn update(
        c: types::Caller,
        r: memories::UpdateRequest,
    ) -> Result<memories::Memory, types::Error> {
        let req = w::update_request(r);
        with(|core| core.update_memory(&caller(c), &req)).map(t::memory)
    }
    fn delete(c: types::Caller, agent_id: String, memory_id: String) -> Result<(), types::Error> {
        with(|core| core.delete_memory(&caller(c), &agent_id, &memory_id))
    }
    fn search(
        c: types::Caller,
        agent_id: String,
        query: String,
        limit: u32,
    ) -> Result<Vec<memories::MemoryHit>, types::Error> {
        with(|core| core.search_memories(&caller(c), &agent_id, &query, limit)).map(|v| {
            v.into_iter()
                .map(|h| memories::MemoryHit {
                    memory: t::memory(h.memory),
                    score: h.score,
                })
                .collect()
        })
    }
}

impl handoffs::Guest for Component {
    fn initiate(
        c: types::Caller,
        source_agent_id: String,
        target_agent_id: String,
        context: handoffs::HandoffContext,
        ttl_seconds: Option<u64>,
    ) -> Result<handoffs::Handoff, types::Error> {
        let ctx = w::context(context);
        with(|core| {
            core.initiate(
                &caller(c),
                &source_agent_id,
                &target_agent_id,
                &ctx,
                ttl_seconds,
            )
        })
        .map(t::handoff)
    }
    fn accept(
        c: types::Caller,
        handoff_id: String,
        agent_id: String,
    ) -> Result<handoffs::AcceptedHandoff, types::Error> {
        with(|core| core.accept(&caller(c), &handoff_id, &agent_id)).map(|a| {
            handoffs::AcceptedHandoff {
                handoff: t::handoff(a.handoff),
                memories: a.memories.into_iter().map(t::memory).collect(),
                dropped_memories: a.dropped,
            }
        })
    }
    fn reject(
        c: types::Caller,
        handoff_id: String,
        agent_id: String,
        reason: String,
    ) -> Result<handoffs::Handoff, types::Error> {
        with(|core| core.reject(&caller(c), &handoff_id, &agent_id, &reason)).map(t::handoff)
    }
    fn cancel(
        c: types::Caller,
        handoff_id: String,
        agent_id: String,
    ) -> Result<handoffs::Handoff, types::Error> {
        with(|core| core.cancel(&caller(c), &handoff_id, &agent_id)).map(t::handoff)
    }
    fn request_input(
        c: types::Caller,
        handoff_id: String,
        agent_id: String,
        question: String,
    ) -> Result<handoffs::Handoff, types::Error> {
        with(|core| core.request_input(&caller(c), &handoff_id, &agent_id, &question))
            .map(t::handoff)
    }
    fn provide_input(
        c: types::Caller,
        handoff_id: String,
        agent_id: String,
        answer: String,
    ) -> Result<handoffs::Handoff, types::Error> {
        with(|core| core.provide_input(&caller(c), &handoff_id, &agent_id, &answer)).map(t::handoff)
    }
    fn complete(
        c: types::Caller,
        handoff_id: String,
        agent_id: String,
        result: Option<String>,
    ) -> Result<handoffs::Handoff, types::Error> {
        with(|core| core.complete(&caller(c), &handoff_id, &agent_id, result.as_deref()))
            .map(t::handoff)
    }
    fn get(c: types::Caller, handoff_id: String) -> Result<handoffs::Handoff, types::Error> {
        with(|core| core.get_handoff(&caller(c), &handoff_id)).map(t::handoff)
    }
    fn pending(
        c: types::Caller,
        agent_id: String,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<handoffs::HandoffPage, types::Error> {
        let req = PageRequest { limit, cursor };
        with(|core| core.pending(&caller(c), &agent_id, &req)).map(t::handoff_page)
    }
    fn by_agent(
        c: types::Caller,
        agent_id: String,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> Result<handoffs::HandoffPage, types::Error> {
        let req = PageRequest { limit, cursor };
        with(|core| core.handoffs_by_agent(&caller(c), &agent_id, &req)).map(t::handoff_page)
    }
    fn cleanup(c: types::Caller) -> Result<u32, types::Error> {
        with(|core| core.cleanup(&caller(c)))
    }
}

impl knowledge::Guest for Component {
    fn ingest(c: types::Caller, documents: Vec<knowledge::Document>) -> Result<u32, types::Error> {
        let docs: Vec<_> = documents.into_iter().map(w::document).collect();
        with(|core| core.ingest(&caller(c), &docs))
    }
    fn remove(
        c: types::Caller,
        kind: knowledge::DocumentKind,
        ids: Vec<String>,
    ) -> Result<u32, types::Error> {
        with(|core| core.remove_documents(&caller(c), w::document_kind(kind), &ids))
    }
    fn get(
        c: types::Caller,
        kind: knowledge::DocumentKind,
        id: String,
    ) -> Result<knowledge::StoredDocument, types::Error> {
        with(|core| core.get_document(&caller(c), w::document_kind(kind), &id)).map(|d| {
            knowledge::StoredDocument {
                document: t::document(d.document),
                ingested_at: d.ingested_at,
                notes: t::notes(d.notes.map(|n| *n).unwrap_or_default()),
            }
        })
    }
    fn search_code(
        c: types::Caller,
        query: String,
        service_filter: Option<String>,
        limit: u32,
    ) -> Result<Vec<knowledge::SearchHit>, types::Error> {
        let filters = maas_core::knowledge::Filters {
            service: service_filter,
            ..Default::default()
        };
        search(
            c,
            maas_core::model::DocumentKind::Code,
            &query,
            &filters,
            limit,
        )
    }
    fn search_decisions(
        c: types::Caller,
        query: String,
        topic_filter: Option<String>,
        limit: u32,
    ) -> Result<Vec<knowledge::SearchHit>, types::Error> {
        let filters = maas_core::knowledge::Filters {
            topic: topic_filter,
            ..Default::default()
        };
        search(
            c,
            maas_core::model::DocumentKind::Decision,
            &query,
            &filters,
            limit,
        )
    }
    fn search_incidents(
        c: types::Caller,
        query: String,
        service_filter: Option<String>,
        severity_filter: Option<String>,
        limit: u32,
    ) -> Result<Vec<knowledge::SearchHit>, types::Error> {
        let filters = maas_core::knowledge::Filters {
            service: service_filter,
            severity: severity_filter,
            ..Default::default()
        };
        search(
            c,
            maas_core::model::DocumentKind::Incident,
            &query,
            &filters,
            limit,
        )
    }
}

fn search(
    c: types::Caller,
    kind: maas_core::model::DocumentKind,
    query: &str,
    filters: &maas_core::knowledge::Filters,
    limit: u32,
) -> Result<Vec<knowledge::SearchHit>, types::Error> {
    with(|core| core.search_documents(&caller(c), kind, query, filters, limit))
        .map(|v| v.into_iter().map(t::hit).collect())
}

impl security::Guest for Component {
    fn is_suspicious(text: String) -> Result<bool, types::Error> {
        maas_core::limits::check_security_text(&text)
            .map(|()| maas_core::security::is_suspicious(&text))
            .map_err(t::error)
    }
    fn sanitize(text: String) -> Result<String, types::Error> {
        maas_core::limits::check_security_text(&text)
            .map(|()| maas_core::security::sanitize(&text))
            .map_err(t::error)
    }
    fn validate_memory_content(text: String) -> Result<types::Notes, types::Error> {
        maas_core::memories::validate_content(&text)
            .map(t::notes)
            .map_err(t::error)
    }
    fn analyze_query(text: String) -> Result<security::QueryAnalysis, types::Error> {
        maas_core::limits::check_security_text(&text)
            .map(|()| {
                let a = maas_core::security::analyze_query(&text);
                security::QueryAnalysis {
                    score: a.score,
                    suspicious: a.score >= 0.5,
                    reasons: a.reasons.iter().map(|r| r.to_string()).collect(),
                }
            })
            .map_err(t::error)
    }
    fn filter_output(text: String) -> Result<String, types::Error> {
        maas_core::limits::check_security_text(&text)
            .map(|()| maas_core::security::redact_secrets(&text))
            .map_err(t::error)
    }
}

impl audit::Guest for Component {
    fn query(
        c: types::Caller,
        filter: audit::AuditFilter,
    ) -> Result<Vec<audit::AuditEntry>, types::Error> {
        let f = maas_core::audit::AuditFilter {
            agent_id: filter.agent_id,
            event_type: filter.event_type,
            since: filter.since,
            until: filter.until,
            limit: filter.limit,
        };
        with(|core| core.audit(&caller(c), &f)).map(|v| v.into_iter().map(t::audit_entry).collect())
    }
    fn deny(
        c: types::Caller,
        operation: String,
        target: Option<String>,
        reason: String,
    ) -> Result<(), types::Error> {
        with(|core| core.deny(&caller(c), &operation, target.as_deref(), &reason))
    }
}

impl changes::Guest for Component {
    fn get(
        c: types::Caller,
        agent_id: Option<String>,
        after: Option<String>,
        filter: changes::ChangeFilter,
        limit: Option<u32>,
    ) -> Result<changes::ChangePage, types::Error> {
        let f = maas_core::changes::Filter {
            kinds: filter.kinds,
            pool_id: filter.pool_id,
        };
        with(|core| core.changes(&caller(c), agent_id.as_deref(), after.as_deref(), f, limit)).map(
            |p| changes::ChangePage {
                changes: p
                    .changes
                    .into_iter()
                    .map(|ch| changes::Change {
                        cursor: ch.cursor,
                        kind: ch.kind.to_string(),
                        object_id: ch.object_id,
                        pool_id: ch.pool_id,
                        at: ch.at,
                        actor: ch.actor,
                        summary: ch.summary,
                    })
                    .collect(),
                next_cursor: p.next_cursor,
                has_more: p.has_more,
                head: p.head,
            },
        )
    }
}

export!(Component);
