// A friendly face over the jco bindings of the maas core component.
//
// The core is the same component the `maas` host runs; jco turns it into an ES module
// (dist/core) whose journal import is ./journal.js. That module holds one instance, so a
// page or process has one core: `createMaas` sets it up once and hands out the same
// object afterwards.
//
// Inputs accept the wire strings (`claude_code`, `agent_private`, `memory_read`) or the
// WIT names (`claude-code`, ...); results are the bindings' records as they are (WIT names,
// u64 as BigInt). Errors are thrown as `MaasError`.

import * as journal from './journal.js';

/** An error returned by the core: `code` is the wire name (`not_found`, `invalid_input`, ...). */
export class MaasError extends Error {
  constructor(tag, val) {
    const code = tag.replaceAll('-', '_');
    super(`${code}: ${describe(val)}`);
    this.name = 'MaasError';
    this.code = code;
    this.detail = val;
    if (val && typeof val === 'object' && 'field' in val) this.field = val.field;
  }
}

function describe(val) {
  if (val === undefined || val === null) return '';
  if (typeof val !== 'object') return String(val);
  if ('field' in val) return `${val.field}: ${val.reason}`;
  if ('resource' in val) return `${val.resource} limit ${val.limit}`;
  return JSON.stringify(val, (_, v) => (typeof v === 'bigint' ? String(v) : v));
}

const LIMIT_FIELDS = [
  'agents', 'sessions', 'pools', 'membersPerPool', 'sharesPerPool', 'handoffs',
  'pendingPerTarget', 'memories', 'documents', 'handoffRetentionSeconds', 'auditWindow',
  'memoryBytes', 'memoriesPerOwner', 'documentsPerOwner', 'pendingPerTargetPerOwner',
  'writesPerMinute', 'changeWindow', 'poolsPerOwner', 'handoffsPerOwner',
  'textBytesPerOwner',
];

const OPERATOR = Object.freeze({ tag: 'operator' });

let created = null;

/**
 * Loads the core (once), catches it up with the journal and returns the API.
 * `limits`: any of the admin limits (numbers or BigInts; 0 or absent = default).
 * `persist`: keep the journal in localStorage, so a reload keeps the state (browser only).
 */
export function createMaas({ limits = {}, persist = false, storageKey = 'maas.journal' } = {}) {
  created ??= (async () => {
    journal.configure({ persist, key: storageKey });
    const core = await import('../dist/core/maas_component.js');
    const wanted = {};
    for (const f of LIMIT_FIELDS) wanted[f] = BigInt(limits[f] ?? 0);
    call(() => core.admin.init(wanted));
    return new Maas(core);
  })();
  return created;
}

function call(f) {
  try {
    return f();
  } catch (e) {
    const p = e?.payload;
    if (p && typeof p === 'object' && typeof p.tag === 'string') throw new MaasError(p.tag, p.val);
    throw e;
  }
}

const wit = (s) => (s === undefined ? undefined : String(s).replaceAll('_', '-'));
const json = (v) => (v === undefined ? undefined : typeof v === 'string' ? v : JSON.stringify(v));
const big = (v) => (v === undefined || v === null ? undefined : BigInt(v));

function callerOf(who) {
  if (who === undefined || who === 'operator') return OPERATOR;
  if (typeof who === 'object') return who;
  return { tag: 'agent', val: who };
}

/** The API, acting as the operator unless a handle from `agent(id)` is used. */
class Maas {
  #core;
  constructor(core) {
    this.#core = core;
  }

  /** The raw jco bindings, for anything the wrapper does not cover. */
  get bindings() {
    return this.#core;
  }

  /** Journal size (entries, bytes) and whether it is persisted. */
  journal() {
    return journal.journalInfo();
  }

  stats() {
    return call(() => this.#core.admin.stats(OPERATOR));
  }

  /** Registers an agent (operator only); returns `{ agentId, token }`. */
  registerAgent({ agentType, ownerId, agentId, capabilities, metadata }) {
    return call(() =>
      this.#core.agents.register(OPERATOR, {
        agentType: wit(agentType),
        ownerId,
        agentId,
        capabilities: capabilities?.map(wit),
        metadata: json(metadata),
      }),
    );
  }

  getAgent(id) {
    return call(() => this.#core.agents.get(OPERATOR, id));
  }

  /** One page of an owner's agents: `{ items, nextCursor }` (see `pending`). */
  listAgents(ownerId, { limit, cursor } = {}) {
    return call(() => this.#core.agents.listByOwner(OPERATOR, ownerId, limit, cursor));
  }

  /** Replaces agent `id`'s token; returns the new one (the old one stops working). */
  rotateToken(id) {
    return call(() => this.#core.agents.rotateToken(OPERATOR, id));
  }

  /** Maps a token to a handle acting as its agent. */
  authenticate(token) {
    const id = call(() => this.#core.agents.authenticate(token));
    return this.agent(id);
  }

  /**
   * A handle acting as agent `id`. The call is made by that agent itself unless `caller`
   * says otherwise: `'operator'`, or another agent id (which the core refuses).
   */
  agent(id, { caller = id } = {}) {
    return new AgentHandle(this.#core, id, callerOf(caller));
  }

  createPool({ name, ownerId, scope, team, poolId, metadata }) {
    return call(() =>
      this.#core.pools.create(OPERATOR, undefined, {
        name, ownerId, scope: wit(scope), team, poolId, metadata: json(metadata),
      }),
    );
  }

  getPool(poolId) {
    return call(() => this.#core.pools.get(OPERATOR, poolId));
  }

  /** One page of the pools: `{ items, nextCursor }` (see `pending`). */
  listPools(ownerId, { limit, cursor } = {}) {
    return call(() => this.#core.pools.list(OPERATOR, ownerId, limit, cursor));
  }

  /** Adds an agent to a pool at `read`, `write` or `admin`. */
  join(poolId, agentId, permission = 'read') {
    return call(() => this.#core.pools.join(OPERATOR, poolId, agentId, wit(permission)));
  }

  /** One page of a pool's members: `{ items, nextCursor }` (see `pending`). */
  members(poolId, { limit, cursor } = {}) {
    return call(() => this.#core.pools.members(OPERATOR, poolId, limit, cursor));
  }

  getHandoff(handoffId) {
    return call(() => this.#core.handoffs.get(OPERATOR, handoffId));
  }

  /** Audit entries, oldest first. `filter`: `{ agentId, eventType, since, until, limit }`. */
  audit(filter = {}) {
    return call(() =>
      this.#core.audit.query(OPERATOR, {
        agentId: filter.agentId,
        eventType: filter.eventType,
        since: big(filter.since),
        until: big(filter.until),
        limit: filter.limit,
      }),
    );
  }
}

/** Calls made as one agent. */
class AgentHandle {
  #core;
  #caller;
  constructor(core, id, caller) {
    this.#core = core;
    this.#caller = caller;
    this.id = id;
  }

  get() {
    return call(() => this.#core.agents.get(this.#caller, this.id));
  }

  /** Replaces this agent's own token; returns the new one. */
  rotateToken() {
    return call(() => this.#core.agents.rotateToken(this.#caller, this.id));
  }

  /** Stores a memory; `pool`/`scope` share it right away. */
  storeMemory({ content, kind = 'note', tags = [], memoryId, poolId, scope, ttlSeconds }) {
    return call(() =>
      this.#core.memories.storeMemory(this.#caller, {
        agentId: this.id, content, kind: wit(kind), tags, memoryId, poolId,
        scope: wit(scope), ttlSeconds: big(ttlSeconds),
      }),
    );
  }

  getMemory(memoryId) {
    return call(() => this.#core.memories.get(this.#caller, this.id, memoryId));
  }

  searchMemories(query, limit = 10) {
    return call(() => this.#core.memories.search(this.#caller, this.id, query, limit));
  }

  createPool({ name, ownerId, scope, team, poolId, metadata }) {
    return call(() =>
      this.#core.pools.create(this.#caller, this.id, {
        name, ownerId, scope: wit(scope), team, poolId, metadata: json(metadata),
      }),
    );
  }

  share(poolId, memoryId, scope) {
    return call(() => this.#core.pools.share(this.#caller, poolId, memoryId, this.id, wit(scope)));
  }

  /** One page of the shares this agent may see: `{ items, nextCursor }` (see `pending`). */
  querySharedMemories(poolId, maxScope = 'global', { limit, cursor } = {}) {
    return call(() =>
      this.#core.pools.queryShared(this.#caller, poolId, this.id, wit(maxScope), limit, cursor),
    );
  }

  leave(poolId) {
    return call(() => this.#core.pools.leave(this.#caller, poolId, this.id));
  }

  /** Starts a handoff to `targetAgentId`. `currentState` may be an object (sent as JSON). */
  initiateHandoff(targetAgentId, { taskDescription, currentState = {}, memories = [], files = [], ttlSeconds }) {
    return call(() =>
      this.#core.handoffs.initiate(
        this.#caller, this.id, targetAgentId,
        { taskDescription, currentState: json(currentState), relevantMemories: memories, relevantFiles: files },
        big(ttlSeconds),
      ),
    );
  }

  /** Accepts a pending handoff; returns `{ handoff, memories }`. */
  accept(handoffId) {
    return call(() => this.#core.handoffs.accept(this.#caller, handoffId, this.id));
  }

  reject(handoffId, reason) {
    return call(() => this.#core.handoffs.reject(this.#caller, handoffId, this.id, reason));
  }

  cancel(handoffId) {
    return call(() => this.#core.handoffs.cancel(this.#caller, handoffId, this.id));
  }

  /** Completes an accepted handoff; `result` may be an object (sent as JSON). */
  /** As the target of an accepted handoff, asks its source for more (`input_required`). */
  requestInput(handoffId, question) {
    return call(() => this.#core.handoffs.requestInput(this.#caller, handoffId, this.id, question));
  }

  /** As the source, answers the target's question; the handoff is accepted again. */
  provideInput(handoffId, answer) {
    return call(() => this.#core.handoffs.provideInput(this.#caller, handoffId, this.id, answer));
  }

  complete(handoffId, result) {
    return call(() => this.#core.handoffs.complete(this.#caller, handoffId, this.id, json(result)));
  }

  /**
   * One page of the live pending handoffs targeting this agent, oldest first:
   * `{ items, nextCursor }`. `limit` is 1..=500 (default 50); pass the `nextCursor` of a
   * page as `cursor` for the next one (absent after the last).
   */
  pending({ limit, cursor } = {}) {
    return call(() => this.#core.handoffs.pending(this.#caller, this.id, limit, cursor));
  }

  /** One page of the handoffs this agent is source or target of, as `pending`. */
  handoffs({ limit, cursor } = {}) {
    return call(() => this.#core.handoffs.byAgent(this.#caller, this.id, limit, cursor));
  }

  /** The audit entries this agent is the actor of. */
  audit(filter = {}) {
    return call(() =>
      this.#core.audit.query(this.#caller, {
        agentId: filter.agentId, eventType: filter.eventType,
        since: big(filter.since), until: big(filter.until), limit: filter.limit,
      }),
    );
  }

  /**
   * What changed since `after` that this agent may see, oldest first: `{ changes,
   * nextCursor, hasMore, head }`. Without `after`, no changes and the head to follow
   * from. `filter`: `{ kinds, poolId }`.
   */
  changes(after, filter = {}, limit) {
    return call(() =>
      this.#core.changes.get(this.#caller, this.id, after, {
        kinds: filter.kinds ?? [], poolId: filter.poolId,
      }, limit),
    );
  }
}
