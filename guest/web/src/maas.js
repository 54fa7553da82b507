// A friendly face over the jco bindings of the maas core component.
//
// The core is the same component the `maas` host runs; jco turns it into an ES module
// (dist/core) whose journal import is ./journal.js. That module holds one instance, so a
// page or process has one core: `createMaas` sets it up once and hands out the same
// object afterwards (to calls with the same options or none; a load that failed is not
// kept).
//
// Inputs accept the wire strings (`claude_code`, `agent_private`, `memory_read`) or the
// WIT names (`claude-code`, ...); results are the bindings' records as they are (WIT names,
// u64 as BigInt). Errors are thrown as `MaasError`.

import * as journal from './journal.js';
import { ArgumentError, fields, jsonText, maybeText, needU32, text, texts, u32, u64 } from './args.js';

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
  'textBytesPerOwner', 'writeBytesPerMinute',
];

const OPERATOR = Object.freeze({ tag: 'operator' });

/** The core being loaded or loaded: `{ options, promise }`, the options as one JSON text. */
let created = null;

/**
 * Loads the core (once), catches it up with the journal and returns the API.
 * `limits`: any of the admin limits (whole numbers or BigInts; 0 or absent = default).
 * `persist`: keep the journal in localStorage, so a reload keeps the state (browser only);
 * the page then holds the journal's `storageKey` until it closes, and a second page on the
 * same key is refused (`unavailable`). A `storageKey` holds no `/` and no `.damaged` and
 * does not start with `-` (`invalid_input`), so no journal's keys are another's.
 * `persist` needs Web Locks, which a browser gives only to a secure context (https, or
 * http on localhost): elsewhere it is refused (`unavailable`) unless
 * `unsafeWithoutWebLocks`, for a stand-in localStorage in Node or a page sure to be alone.
 * Unsafe with several pages on one key: two of them writing at the same moment are both
 * told their write was kept, and one write is lost.
 * An entry the core cannot decode ends the journal there: it and those after it are set
 * aside (`journal().setAside`) and the core goes on from the entries before.
 * A later call with no options gets the core already created; one with other options is
 * refused (`invalid_input`): there is one core.
 */
export function createMaas(options) {
  let wanted;
  try {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new ArgumentError('options', `must be an object, not ${options === null ? 'null' : typeof options}`);
    }
    if (created !== null && Object.keys(options ?? {}).length === 0) return created.promise;
    wanted = call(() => limitsOf(options?.limits));
  } catch (e) {
    return Promise.reject(e instanceof ArgumentError ? new MaasError(e.tag, e.val) : e);
  }
  const { persist = false, storageKey = 'maas.journal', unsafeWithoutWebLocks = false } = options ?? {};
  const wantedOptions = JSON.stringify({
    persist: Boolean(persist),
    storageKey: persist ? storageKey : null,
    limits: LIMIT_FIELDS.map((f) => String(wanted[f])),
  });
  if (created !== null) {
    if (created.options === wantedOptions) return created.promise;
    return Promise.reject(
      new MaasError('invalid-input', 'the core is already created with other options (persist, storageKey ' +
        'or limits): a page or process has one core; pass the same options, or none'),
    );
  }
  const promise = (async () => {
    await journal
      .configure({ persist: Boolean(persist), key: storageKey, unsafeWithoutWebLocks: Boolean(unsafeWithoutWebLocks) })
      .catch(refused);
    const core = await import('../dist/core/maas_component.js');
    init(core, wanted, storageKey);
    return new Maas(core);
  })();
  created = { options: wantedOptions, promise };
  // A failed load is not kept: the next call tries again.
  promise.catch(() => {
    if (created?.promise === promise) created = null;
  });
  return promise;
}

/**
 * Catches the core up with the journal. An entry it cannot decode (damaged in storage)
 * would refuse every load until the journal is cleared: that entry and those after it are
 * set aside instead and the core, which stopped before it, goes on from there.
 */
function init(core, wanted, storageKey) {
  try {
    call(() => core.admin.init(wanted));
  } catch (e) {
    const seq = undecodable(e);
    if (seq === null || !journal.setAsideFrom(seq)) throw e;
    try {
      call(() => core.admin.init(wanted));
    } catch (again) {
      throw new MaasError(
        'unavailable',
        `entry ${seq} of the stored journal could not be decoded: it and the entries after it were ` +
          `set aside under "${storageKey}.damaged/", and a reload will load the entries before it ` +
          `(${describe(again.detail ?? again.message)})`,
      );
    }
  }
}

/**
 * The entry the core refused to decode, from its refusal (`Entry::decode` in
 * guest/core/src/events.rs: field `journal`, "entry N cannot be decoded: …"), or null.
 * An entry of a newer format version is not damage and is not matched.
 */
function undecodable(e) {
  if (!(e instanceof MaasError) || e.code !== 'invalid_input' || e.field !== 'journal') return null;
  const m = /^entry ([0-9]+) cannot be decoded/.exec(String(e.detail?.reason));
  return m ? Number(m[1]) : null;
}

/** Forgets the persisted journal under `storageKey` (see `persist`); refused while another page has it open. */
export async function clearPersisted(storageKey) {
  await journal.clearPersisted(storageKey).catch(refused);
}

/** Throws the journal's refusal `{ tag, val }` as a `MaasError` (anything else as it is). */
function refused(e) {
  throw typeof e?.tag === 'string' ? new MaasError(e.tag, e.val) : e;
}

/** The admin limits from `limits`, each a u64; refuses a field it does not know. */
function limitsOf(limits) {
  for (const name of Object.keys(limits ?? {})) {
    if (!LIMIT_FIELDS.includes(name)) throw new ArgumentError(snake(name), 'is not a limit');
  }
  return Object.fromEntries(LIMIT_FIELDS.map((f) => [f, u64(snake(f), limits?.[f]) ?? 0n]));
}

const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function call(f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof ArgumentError) throw new MaasError(e.tag, e.val);
    const p = e?.payload;
    if (p && typeof p === 'object' && typeof p.tag === 'string') throw new MaasError(p.tag, p.val);
    // jco's refusal of a value that is no case of an enum (jco 1.35's wording): a caller's
    // mistake like any other, named by the enum (`memory_kind` for `kind`).
    const m = e instanceof TypeError && /^"(.*)" is not one of the cases of ([a-z0-9-]+)$/s.exec(e.message);
    if (m) throw new MaasError('invalid-input', { field: m[2].replaceAll('-', '_'), reason: `${JSON.stringify(m[1])} is not one of its cases` });
    throw e;
  }
}

/** An enum's wire name (`claude_code`) or WIT name (`claude-code`) as jco takes it. */
const wit = (field, s) => (s === undefined || s === null ? undefined : text(field, s).replaceAll('_', '-'));

/** A required enum, as `wit`. */
function needWit(field, s) {
  if (s === undefined || s === null) throw new ArgumentError(field, 'is required');
  return wit(field, s);
}

function callerOf(who) {
  if (who === undefined || who === 'operator') return OPERATOR;
  if (typeof who === 'string') return { tag: 'agent', val: who };
  if (who?.tag === 'operator') return OPERATOR;
  if (who?.tag === 'agent' && typeof who.val === 'string') return { tag: 'agent', val: who.val };
  throw new ArgumentError('caller', "must be 'operator', an agent id, or { tag: 'agent', val: id }");
}

/** A page of a list: `{ limit, cursor }` checked. */
function pageOf(page) {
  const { limit, cursor } = fields('page', page);
  return [u32('limit', limit), maybeText('cursor', cursor)];
}

/** The filter of `audit.query`. */
function auditFilter(filter) {
  const { agentId, eventType, since, until, limit } = fields('filter', filter);
  return {
    agentId: maybeText('agent_id', agentId),
    eventType: maybeText('event_type', eventType),
    since: u64('since', since),
    until: u64('until', until),
    limit: u32('limit', limit),
  };
}

/** The request of `pools.create`. */
function poolRequest(request) {
  const { name, ownerId, scope, team, poolId, metadata } = fields('request', request);
  return {
    name: text('name', name),
    ownerId: text('owner_id', ownerId),
    scope: needWit('scope', scope),
    team: maybeText('team', team),
    poolId: maybeText('pool_id', poolId),
    metadata: jsonText('metadata', metadata),
  };
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

  /**
   * The journal: `{ head, bytes, persisted, setAside }`, `setAside` counting the stored
   * entries the load could not take (missing, damaged, or conflicting with what a page of
   * an earlier version wrote): the console says where those there were are set aside.
   */
  journal() {
    return journal.journalInfo();
  }

  stats() {
    return call(() => this.#core.admin.stats(OPERATOR));
  }

  /** Registers an agent (operator only); returns `{ agentId, token }`. */
  registerAgent(request) {
    return call(() => {
      const { agentType, ownerId, agentId, capabilities, metadata } = fields('request', request);
      return this.#core.agents.register(OPERATOR, {
        agentType: needWit('agent_type', agentType),
        ownerId: text('owner_id', ownerId),
        agentId: maybeText('agent_id', agentId),
        capabilities: capabilities === undefined ? undefined : texts('capabilities', capabilities).map((c) => wit('capabilities', c)),
        metadata: jsonText('metadata', metadata),
      });
    });
  }

  getAgent(id) {
    return call(() => this.#core.agents.get(OPERATOR, text('agent_id', id)));
  }

  /** One page of an owner's agents: `{ items, nextCursor }` (see `pending`). */
  listAgents(ownerId, page) {
    return call(() => this.#core.agents.listByOwner(OPERATOR, text('owner_id', ownerId), ...pageOf(page)));
  }

  /** Replaces agent `id`'s token; returns the new one (the old one stops working). */
  rotateToken(id) {
    return call(() => this.#core.agents.rotateToken(OPERATOR, text('agent_id', id)));
  }

  /**
   * Maps a token to a handle acting as its agent. The handle checks the token again on
   * every call, so it stops working as soon as the token is rotated or the agent
   * deactivated (refused `permission_denied`, as the core refuses a bad token).
   */
  authenticate(token) {
    return call(() => {
      const id = this.#core.agents.authenticate(text('token', token));
      return new AgentHandle(this.#core, id, callerOf(id), token);
    });
  }

  /**
   * A handle acting as agent `id`. The call is made by that agent itself unless `caller`
   * says otherwise: `'operator'`, or another agent id (which the core refuses). No token
   * is involved: this is the page, trusted as the operator, speaking for the agent, so
   * rotating the agent's token does not affect the handle (use `authenticate` for that).
   */
  agent(id, options) {
    return call(() => {
      const { caller = id } = fields('options', options);
      return new AgentHandle(this.#core, text('agent_id', id), callerOf(caller));
    });
  }

  createPool(request) {
    return call(() => this.#core.pools.create(OPERATOR, undefined, poolRequest(request)));
  }

  getPool(poolId) {
    return call(() => this.#core.pools.get(OPERATOR, text('pool_id', poolId)));
  }

  /** One page of the pools: `{ items, nextCursor }` (see `pending`). */
  listPools(ownerId, page) {
    return call(() => this.#core.pools.list(OPERATOR, maybeText('owner_id', ownerId), ...pageOf(page)));
  }

  /** Adds an agent to a pool at `read`, `write` or `admin`. */
  join(poolId, agentId, permission = 'read') {
    return call(() =>
      this.#core.pools.join(OPERATOR, text('pool_id', poolId), text('agent_id', agentId), wit('permission', permission)),
    );
  }

  /** One page of a pool's members: `{ items, nextCursor }` (see `pending`). */
  members(poolId, page) {
    return call(() => this.#core.pools.members(OPERATOR, text('pool_id', poolId), ...pageOf(page)));
  }

  getHandoff(handoffId) {
    return call(() => this.#core.handoffs.get(OPERATOR, text('handoff_id', handoffId)));
  }

  /** Audit entries, oldest first. `filter`: `{ agentId, eventType, since, until, limit }`. */
  audit(filter) {
    return call(() => this.#core.audit.query(OPERATOR, auditFilter(filter)));
  }
}

/** Calls made as one agent. */
class AgentHandle {
  #core;
  #caller;
  #token;
  constructor(core, id, caller, token) {
    this.#core = core;
    this.#caller = caller;
    this.#token = token;
    this.id = id;
  }

  /** The caller of a call; a handle from `authenticate` first checks its token still works. */
  #as() {
    if (this.#token !== undefined) this.#core.agents.authenticate(this.#token);
    return this.#caller;
  }

  get() {
    return call(() => this.#core.agents.get(this.#as(), this.id));
  }

  /**
   * Replaces this agent's own token; returns the new one. A handle from `authenticate`
   * goes on with the new token.
   */
  rotateToken() {
    return call(() => {
      const token = this.#core.agents.rotateToken(this.#as(), this.id);
      if (this.#token !== undefined) this.#token = token;
      return token;
    });
  }

  /** Stores a memory; `pool`/`scope` share it right away. */
  storeMemory(request) {
    return call(() => {
      const { content, kind = 'note', tags, memoryId, poolId, scope, ttlSeconds } = fields('request', request);
      return this.#core.memories.storeMemory(this.#as(), {
        agentId: this.id,
        content: text('content', content),
        kind: wit('kind', kind),
        tags: texts('tags', tags),
        memoryId: maybeText('memory_id', memoryId),
        poolId: maybeText('pool_id', poolId),
        scope: wit('scope', scope),
        ttlSeconds: u64('ttl_seconds', ttlSeconds),
      });
    });
  }

  getMemory(memoryId) {
    return call(() => this.#core.memories.get(this.#as(), this.id, text('memory_id', memoryId)));
  }

  searchMemories(query, limit = 10) {
    return call(() => this.#core.memories.search(this.#as(), this.id, text('query', query), needU32('limit', limit)));
  }

  createPool(request) {
    return call(() => this.#core.pools.create(this.#as(), this.id, poolRequest(request)));
  }

  share(poolId, memoryId, scope) {
    return call(() =>
      this.#core.pools.share(this.#as(), text('pool_id', poolId), text('memory_id', memoryId), this.id, wit('scope', scope)),
    );
  }

  /** One page of the shares this agent may see: `{ items, nextCursor }` (see `pending`). */
  querySharedMemories(poolId, maxScope = 'global', page) {
    return call(() =>
      this.#core.pools.queryShared(this.#as(), text('pool_id', poolId), this.id, wit('max_scope', maxScope), ...pageOf(page)),
    );
  }

  leave(poolId) {
    return call(() => this.#core.pools.leave(this.#as(), text('pool_id', poolId), this.id));
  }

  /** Starts a handoff to `targetAgentId`. `currentState` may be an object (sent as JSON). */
  initiateHandoff(targetAgentId, request) {
    return call(() => {
      const { taskDescription, currentState = {}, memories, files, ttlSeconds } = fields('request', request);
      return this.#core.handoffs.initiate(
        this.#as(),
        this.id,
        text('target_agent_id', targetAgentId),
        {
          taskDescription: text('task_description', taskDescription),
          currentState: jsonText('current_state', currentState),
          relevantMemories: texts('relevant_memories', memories),
          relevantFiles: texts('relevant_files', files),
        },
        u64('ttl_seconds', ttlSeconds),
      );
    });
  }

  /** Accepts a pending handoff; returns `{ handoff, memories }`. */
  accept(handoffId) {
    return call(() => this.#core.handoffs.accept(this.#as(), text('handoff_id', handoffId), this.id));
  }

  reject(handoffId, reason) {
    return call(() =>
      this.#core.handoffs.reject(this.#as(), text('handoff_id', handoffId), this.id, text('reason', reason)),
    );
  }

  cancel(handoffId) {
    return call(() => this.#core.handoffs.cancel(this.#as(), text('handoff_id', handoffId), this.id));
  }

  /** As the target of an accepted handoff, asks its source for more (`input_required`). */
  requestInput(handoffId, question) {
    return call(() =>
      this.#core.handoffs.requestInput(this.#as(), text('handoff_id', handoffId), this.id, text('question', question)),
    );
  }

  /** As the source, answers the target's question; the handoff is accepted again. */
  provideInput(handoffId, answer) {
    return call(() =>
      this.#core.handoffs.provideInput(this.#as(), text('handoff_id', handoffId), this.id, text('answer', answer)),
    );
  }

  /** Completes an accepted handoff; `result` may be an object (sent as JSON). */
  complete(handoffId, result) {
    return call(() =>
      this.#core.handoffs.complete(this.#as(), text('handoff_id', handoffId), this.id, jsonText('result', result)),
    );
  }

  /**
   * One page of the live pending handoffs targeting this agent, oldest first:
   * `{ items, nextCursor }`. `limit` is 1..=500 (default 50); pass the `nextCursor` of a
   * page as `cursor` for the next one (absent after the last).
   */
  pending(page) {
    return call(() => this.#core.handoffs.pending(this.#as(), this.id, ...pageOf(page)));
  }

  /** One page of the handoffs this agent is source or target of, as `pending`. */
  handoffs(page) {
    return call(() => this.#core.handoffs.byAgent(this.#as(), this.id, ...pageOf(page)));
  }

  /** The audit entries this agent is the actor of. */
  audit(filter) {
    return call(() => this.#core.audit.query(this.#as(), auditFilter(filter)));
  }

  /**
   * What changed since `after` that this agent may see, oldest first: `{ changes,
   * nextCursor, hasMore, head }`. Without `after`, no changes and the head to follow
   * from. `filter`: `{ kinds, poolId }`.
   */
  changes(after, filter, limit) {
    return call(() => {
      const { kinds, poolId } = fields('filter', filter);
      return this.#core.changes.get(
        this.#as(),
        this.id,
        maybeText('after', after),
        { kinds: texts('kinds', kinds), poolId: maybeText('pool_id', poolId) },
        u32('limit', limit),
      );
    });
  }
}
