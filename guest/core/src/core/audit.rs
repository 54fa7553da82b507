//! `Core` operations on the audit trail.

use crate::audit::{self, AuditFilter};
use crate::core::Core;
use crate::engine::Env;
use crate::error::Result;
use crate::journal::Journal;
use crate::model::Caller;
use crate::state::AuditEntry;

impl<J: Journal, E: Env> Core<J, E> {
    /// Queries the audit trail: the journal's entries (changes and denials) kept in memory,
    /// merged with the read-audit log.
    pub fn audit(&mut self, caller: &Caller, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let scan = audit::scan(caller, filter);
        let reads = self
            .engine
            .journal
            .audit_scan(&scan)
            .map_err(crate::engine::journal_error)?;
        self.engine.run(caller, "audit.query", None, |s, cx| {
            audit::query(s, cx, filter, &reads)
        })
    }

    /// Records a refusal made by the host and returns it.
    pub fn deny(
        &mut self,
        caller: &Caller,
        operation: &str,
        target: Option<&str>,
        reason: &str,
    ) -> Result<()> {
        self.engine.run(caller, operation, target, |s, cx| {
            audit::deny(s, cx, operation, target, reason)
        })
    }
}
