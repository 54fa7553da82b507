//! Evolving pools, members and shares.

use super::remove_from;
use crate::events::Event;
use crate::state::{Member, Pool, Share, State, team_key};
use std::collections::BTreeMap;

impl State {
    /// Applies an event about pools, members and shares.
    pub(super) fn evolve_pools(&mut self, at: u64, event: &Event) {
        match event {
            Event::PoolCreated {
                id,
                name,
                owner_id,
                scope,
                team,
                metadata,
            } => {
                let n = self.take_n();
                self.use_id("pool", id);
                if let Some(t) = team {
                    self.teams
                        .entry(team_key(owner_id, t))
                        .or_default()
                        .insert(id.clone());
                }
                self.pools.insert(
                    id.clone(),
                    Pool {
                        n,
                        id: id.clone(),
                        name: name.clone(),
                        owner_id: owner_id.clone(),
                        scope: *scope,
                        team: team.clone(),
                        metadata: metadata.clone(),
                        archived: false,
                        created_at: at,
                        members: BTreeMap::new(),
                        shares: BTreeMap::new(),
                        share_order: BTreeMap::new(),
                    },
                );
            }
            Event::MemberJoined {
                pool_id,
                agent_id,
                permission,
            } => {
                let n = self.take_n();
                if let Some(p) = self.pools.get_mut(pool_id) {
                    match p.members.get_mut(agent_id) {
                        Some(m) => m.permission = *permission,
                        None => {
                            p.members.insert(
                                agent_id.clone(),
                                Member {
                                    n,
                                    permission: *permission,
                                    joined_at: at,
                                },
                            );
                            self.memberships
                                .entry(agent_id.clone())
                                .or_default()
                                .insert(pool_id.clone());
                        }
                    }
                }
            }
            Event::MemberLeft { pool_id, agent_id } => {
                if let Some(p) = self.pools.get_mut(pool_id) {
                    p.members.remove(agent_id);
                }
                remove_from(&mut self.memberships, agent_id, pool_id);
            }
            Event::MemoryShared {
                pool_id,
                memory_id,
                shared_by,
                scope,
            } => {
                let n = self.take_n();
                if let (Some(p), Some(m)) = (
                    self.pools.get_mut(pool_id),
                    self.memories.get_mut(memory_id),
                ) {
                    p.add_share(
                        memory_id,
                        Share {
                            n,
                            shared_by: shared_by.clone(),
                            scope: *scope,
                            shared_at: at,
                        },
                    );
                    m.pools.insert(pool_id.clone());
                }
            }
            Event::MemoryUnshared {
                pool_id, memory_id, ..
            } => {
                if let Some(p) = self.pools.get_mut(pool_id) {
                    p.remove_share(memory_id);
                }
                if let Some(m) = self.memories.get_mut(memory_id) {
                    m.pools.remove(pool_id);
                }
            }
            Event::PoolArchived { id } => {
                if let Some(p) = self.pools.get_mut(id) {
                    p.archived = true;
                }
            }
            Event::PoolDeleted { id, .. } => {
                if let Some(p) = self.pools.remove(id) {
                    for agent in p.members.keys() {
                        remove_from(&mut self.memberships, agent, id);
                    }
                    for memory in p.shares.keys() {
                        if let Some(m) = self.memories.get_mut(memory) {
                            m.pools.remove(id);
                        }
                    }
                    if let Some(t) = &p.team {
                        remove_from(&mut self.teams, &team_key(&p.owner_id, t), id);
                    }
                }
            }
            _ => {}
        }
    }
}
