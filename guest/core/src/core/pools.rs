//! `Core` operations on pools, members and shares.

use crate::core::Core;
use crate::engine::Env;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::model::{Caller, Permission, Scope};
use crate::page::{Page, PageRequest};
use crate::pools::{self, MemberView, PoolRequest, PoolView, ShareView};

impl<J: Journal, E: Env> Core<J, E> {
    /// Creates a pool.
    pub fn create_pool(
        &mut self,
        caller: &Caller,
        agent_id: Option<&str>,
        req: &PoolRequest,
    ) -> Result<PoolView> {
        let id = self
            .engine
            .run(caller, "pools.create", req.pool_id.as_deref(), |s, cx| {
                pools::create(s, cx, agent_id, req)
            })?;
        self.pool_view(&id)
    }

    fn pool_view(&self, id: &str) -> Result<PoolView> {
        self.engine
            .state
            .pools
            .get(id)
            .map(|p| PoolView::of(p, None))
            .ok_or_else(|| Error::not_found("pool", id))
    }

    /// Returns a pool.
    pub fn get_pool(&mut self, caller: &Caller, pool_id: &str) -> Result<PoolView> {
        self.engine
            .run(caller, "pools.get", Some(pool_id), |s, cx| {
                pools::get(s, cx, pool_id)
            })
    }

    /// One page of the visible pools.
    pub fn list_pools(
        &mut self,
        caller: &Caller,
        owner_id: Option<&str>,
        req: &PageRequest,
    ) -> Result<Page<PoolView>> {
        self.engine.run(caller, "pools.list", owner_id, |s, cx| {
            pools::list(s, cx, owner_id, req)
        })
    }

    /// Adds a member or changes its permission.
    pub fn join_pool(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        agent_id: &str,
        permission: Permission,
    ) -> Result<MemberView> {
        self.engine
            .run(caller, "pools.join", Some(pool_id), |s, cx| {
                pools::join(s, cx, pool_id, agent_id, permission)
            })
    }

    /// The acting agent leaves.
    pub fn leave_pool(&mut self, caller: &Caller, pool_id: &str, agent_id: &str) -> Result<()> {
        self.engine
            .run(caller, "pools.leave", Some(pool_id), |s, cx| {
                pools::leave(s, cx, pool_id, agent_id)
            })
    }

    /// An admin removes a member.
    pub fn remove_member(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        acting: Option<&str>,
        member_id: &str,
    ) -> Result<()> {
        self.engine
            .run(caller, "pools.remove-member", Some(pool_id), |s, cx| {
                pools::remove_member(s, cx, pool_id, acting, member_id)
            })
    }

    /// One page of a pool's members.
    pub fn members(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        req: &PageRequest,
    ) -> Result<Page<MemberView>> {
        self.engine
            .run(caller, "pools.members", Some(pool_id), |s, cx| {
                pools::members(s, cx, pool_id, req)
            })
    }

    /// Shares a memory.
    pub fn share(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        memory_id: &str,
        agent_id: &str,
        scope: Scope,
    ) -> Result<ShareView> {
        self.engine
            .run(caller, "pools.share", Some(memory_id), |s, cx| {
                pools::share(s, cx, pool_id, memory_id, agent_id, scope)
            })
    }

    /// Removes a share.
    pub fn unshare(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        memory_id: &str,
        agent_id: &str,
    ) -> Result<()> {
        self.engine
            .run(caller, "pools.unshare", Some(memory_id), |s, cx| {
                pools::unshare(s, cx, pool_id, memory_id, agent_id)
            })
    }

    /// One page of the visible shares no wider than `max_scope`.
    pub fn query_shared(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        agent_id: &str,
        max_scope: Scope,
        req: &PageRequest,
    ) -> Result<Page<ShareView>> {
        self.engine
            .run(caller, "pools.query-shared", Some(pool_id), |s, cx| {
                pools::query_shared(s, cx, pool_id, agent_id, max_scope, req)
            })
    }

    /// Archives a pool.
    pub fn archive_pool(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        acting: Option<&str>,
    ) -> Result<()> {
        self.engine
            .run(caller, "pools.archive", Some(pool_id), |s, cx| {
                pools::archive(s, cx, pool_id, acting)
            })
    }

    /// Deletes a pool.
    pub fn delete_pool(
        &mut self,
        caller: &Caller,
        pool_id: &str,
        acting: Option<&str>,
    ) -> Result<()> {
        self.engine
            .run(caller, "pools.delete", Some(pool_id), |s, cx| {
                pools::delete(s, cx, pool_id, acting)
            })
    }
}
