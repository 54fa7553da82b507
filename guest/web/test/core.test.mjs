// The core component through jco and the wrapper: the same rules the native host enforces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clearPersisted, createMaas, MaasError } from '../src/maas.js';
import * as journal from '../src/journal.js';

const maas = await createMaas();

// Every test works on its own owner and ids, since a process holds one core.
let n = 0;
function team(agentTypes = ['claude_code', 'gpt_agent']) {
  n += 1;
  const owner = `owner-${n}`;
  const ids = agentTypes.map((agentType, i) => {
    const agentId = `agent-${n}-${i}`;
    maas.registerAgent({ agentType, ownerId: owner, agentId });
    return agentId;
  });
  return { owner, ids, pool: `pool-${n}` };
}

function refused(f, code, check = () => {}) {
  assert.throws(f, (e) => {
    assert.ok(e instanceof MaasError, `expected a MaasError, got ${e}`);
    assert.equal(e.code, code, e.message);
    check(e);
    return true;
  });
}

test('a registered agent can be read back with its default capabilities', () => {
  const reg = maas.registerAgent({ agentType: 'gpt_agent', ownerId: 'user-x', agentId: 'reader-1', metadata: { role: 'ui' } });
  assert.equal(reg.agentId, 'reader-1');
  assert.match(reg.token, /^maas_[0-9a-f]{64}$/);
  const agent = maas.getAgent('reader-1');
  assert.equal(agent.agentType, 'gpt-agent');
  assert.equal(agent.ownerId, 'user-x');
  assert.equal(agent.active, true);
  assert.deepEqual(JSON.parse(agent.metadata), { role: 'ui' });
  assert.ok(agent.capabilities.includes('handoff-receive'));
  assert.ok(!agent.capabilities.includes('memory-delete'));
  assert.equal(maas.authenticate(reg.token).id, 'reader-1');
});

test('the token never appears in the audit trail', () => {
  const reg = maas.registerAgent({ agentType: 'human', ownerId: 'user-y', agentId: 'person-1' });
  const trail = JSON.stringify(maas.audit({ limit: 1000 }), (_, v) => (typeof v === 'bigint' ? String(v) : v));
  assert.ok(trail.includes('person-1'));
  assert.ok(!trail.includes(reg.token));
});

test('a rotated token stops working and the new one acts as the agent', () => {
  const reg = maas.registerAgent({ agentType: 'claude_code', ownerId: 'user-r', agentId: 'rotating-1' });
  const mine = maas.authenticate(reg.token).rotateToken();
  assert.match(mine, /^maas_[0-9a-f]{64}$/);
  refused(() => maas.authenticate(reg.token), 'permission_denied');
  assert.equal(maas.authenticate(mine).id, 'rotating-1');
  const next = maas.rotateToken('rotating-1');
  refused(() => maas.authenticate(mine), 'permission_denied');
  assert.equal(maas.authenticate(next).id, 'rotating-1');
  refused(() => maas.rotateToken('nobody-r'), 'not_found');
});

test('an id can never be registered twice', () => {
  maas.registerAgent({ agentType: 'human', ownerId: 'user-z', agentId: 'once-1' });
  refused(() => maas.registerAgent({ agentType: 'human', ownerId: 'user-z', agentId: 'once-1' }), 'invalid_input');
});

test('a malformed id is invalid input naming the field', () => {
  refused(() => maas.registerAgent({ agentType: 'human', ownerId: 'user-z', agentId: 'not an id!' }), 'invalid_input',
    (e) => assert.equal(e.field, 'agent_id'));
});

test('an agent acting as another agent is denied', () => {
  const { ids: [a, b] } = team();
  refused(() => maas.agent(b, { caller: a }).storeMemory({ content: 'mine now', kind: 'note' }), 'permission_denied');
  const denied = maas.audit({ eventType: 'access.denied', agentId: a });
  assert.ok(denied.length >= 1);
});

test('agents of other owners are not visible', () => {
  const { ids: [a] } = team();
  const { ids: [other] } = team();
  assert.equal(maas.agent(a).get().id, a);
  refused(() => maas.agent(other, { caller: a }).get(), 'not_found');
});

test('a project share is visible to every member', () => {
  const { owner, ids: [a, b], pool } = team();
  maas.createPool({ name: 'p', ownerId: owner, scope: 'project', poolId: pool });
  maas.join(pool, a, 'write');
  maas.join(pool, b, 'read');
  maas.agent(a).storeMemory({ memoryId: `${pool}-m`, kind: 'fact', content: 'the cache is redis', tags: ['cache'] });
  const share = maas.agent(a).share(pool, `${pool}-m`, 'project');
  assert.equal(share.scope, 'project');
  assert.deepEqual(maas.agent(b).querySharedMemories(pool).items.map((s) => s.memoryId), [`${pool}-m`]);
  assert.equal(maas.agent(b).getMemory(`${pool}-m`).content, 'the cache is redis');
});

test('an agent_private share is visible only to its sharer', () => {
  const { owner, ids: [a, b], pool } = team();
  maas.createPool({ name: 'p', ownerId: owner, scope: 'project', poolId: pool });
  maas.join(pool, a, 'write');
  maas.join(pool, b, 'write');
  maas.agent(a).storeMemory({ memoryId: `${pool}-secret`, content: 'draft notes', poolId: pool, scope: 'agent_private' });
  assert.deepEqual(maas.agent(a).querySharedMemories(pool).items.map((s) => s.memoryId), [`${pool}-secret`]);
  assert.deepEqual(maas.agent(b).querySharedMemories(pool).items, []);
  refused(() => maas.agent(b).getMemory(`${pool}-secret`), 'not_found');
});

test('max_scope only narrows what a member sees', () => {
  const { owner, ids: [a, b], pool } = team();
  maas.createPool({ name: 'p', ownerId: owner, scope: 'project', poolId: pool });
  maas.join(pool, a, 'write');
  maas.join(pool, b, 'read');
  maas.agent(a).storeMemory({ memoryId: `${pool}-u`, content: 'user scoped', poolId: pool, scope: 'user' });
  maas.agent(a).storeMemory({ memoryId: `${pool}-p`, content: 'project scoped', poolId: pool, scope: 'project' });
  const seen = (max) => maas.agent(b).querySharedMemories(pool, max).items.map((s) => s.memoryId);
  assert.deepEqual(seen('global'), [`${pool}-u`, `${pool}-p`]);
  assert.deepEqual(seen('user'), [`${pool}-u`]);
  assert.deepEqual(seen('agent_private'), []);
});

test('a share wider than the pool scope is invalid input', () => {
  const { owner, ids: [a], pool } = team();
  maas.createPool({ name: 'p', ownerId: owner, scope: 'user', poolId: pool });
  maas.join(pool, a, 'write');
  maas.agent(a).storeMemory({ memoryId: `${pool}-m`, content: 'wide' });
  refused(() => maas.agent(a).share(pool, `${pool}-m`, 'global'), 'invalid_input', (e) => assert.equal(e.field, 'scope'));
});

test('search ranks the memories the agent may read and skips the others', () => {
  const { ids: [a, b] } = team();
  maas.agent(a).storeMemory({ memoryId: `${a}-jwt`, kind: 'decision', content: 'login returns a JWT access token', tags: ['auth'] });
  maas.agent(a).storeMemory({ memoryId: `${a}-css`, kind: 'preference', content: 'buttons use the accent colour' });
  const hits = maas.agent(a).searchMemories('JWT token');
  assert.equal(hits[0].memory.id, `${a}-jwt`);
  assert.ok(hits[0].score > 0);
  assert.ok(!hits.some((h) => h.memory.id === `${a}-css`));
  assert.deepEqual(maas.agent(b).searchMemories('JWT token'), []);
});

test('content that looks like an injection is refused', () => {
  const { ids: [a] } = team();
  refused(() => maas.agent(a).storeMemory({ content: "x'; DROP TABLE memories; --" }), 'invalid_input',
    (e) => assert.equal(e.field, 'content'));
});

function handoffSetup() {
  const t = team();
  const [a, b] = t.ids;
  maas.createPool({ name: 'auth', ownerId: t.owner, scope: 'project', poolId: t.pool });
  maas.join(t.pool, a, 'write');
  maas.join(t.pool, b, 'write');
  maas.agent(a).storeMemory({ memoryId: `${t.pool}-api`, kind: 'decision', content: 'POST /api/auth/login returns a JWT' });
  const h = maas.agent(a).initiateHandoff(b, {
    taskDescription: 'Implement login UI using the API spec',
    memories: [`${t.pool}-api`],
    files: ['src/api/auth.py'],
  });
  return { ...t, a, b, h, memory: `${t.pool}-api` };
}

test('a handoff goes pending, accepted with its memories, then completed', () => {
  const { a, b, h, memory } = handoffSetup();
  assert.equal(h.status, 'pending');
  refused(() => maas.agent(b).getMemory(memory), 'not_found');
  assert.deepEqual(maas.agent(b).pending().items.map((p) => p.id), [h.id]);
  const accepted = maas.agent(b).accept(h.id);
  assert.equal(accepted.handoff.status, 'accepted');
  assert.deepEqual(accepted.memories.map((m) => m.id), [memory]);
  assert.equal(maas.agent(b).getMemory(memory).author, a);
  assert.deepEqual(maas.agent(b).pending().items, []);
  const done = maas.agent(b).complete(h.id, { status: 'success' });
  assert.equal(done.status, 'completed');
  assert.deepEqual(JSON.parse(done.result), { status: 'success' });
  const events = maas.audit({ agentId: b, limit: 1000 }).map((e) => e.eventType);
  assert.ok(events.includes('handoff.accepted'));
  assert.ok(events.includes('handoff.completed'));
});

test('a rejected handoff keeps its reason and grants nothing', () => {
  const { b, h, memory } = handoffSetup();
  const rejected = maas.agent(b).reject(h.id, 'no capacity this sprint');
  assert.equal(rejected.status, 'rejected');
  assert.equal(rejected.reason, 'no capacity this sprint');
  refused(() => maas.agent(b).getMemory(memory), 'not_found');
  refused(() => maas.agent(b).accept(h.id), 'invalid_input');
});

test('a handoff can be accepted once', () => {
  const { b, h } = handoffSetup();
  maas.agent(b).accept(h.id);
  refused(() => maas.agent(b).accept(h.id), 'invalid_input');
});

test('only the target accepts a handoff', () => {
  const { a, h } = handoffSetup();
  refused(() => maas.agent(a).accept(h.id), 'permission_denied');
});

test('a handoff to oneself is invalid input', () => {
  const { ids: [a] } = team();
  refused(() => maas.agent(a).initiateHandoff(a, { taskDescription: 'loop' }), 'invalid_input');
});

test('the journal refuses an append at a stale head with the current head', () => {
  const headNow = journal.head();
  assert.ok(headNow > 0n);
  assert.throws(() => journal.append(headNow - 1n, new Uint8Array([1]), true), (e) => {
    assert.deepEqual(e, { tag: 'conflict', val: headNow });
    return true;
  });
  assert.equal(journal.head(), headNow);
  const tail = journal.read(headNow, 10);
  assert.equal(tail.length, 1);
  assert.equal(tail[0].seq, headNow);
});

test('a call through jco costs this much (measured, not asserted)', (t) => {
  const { ids: [a] } = team();
  const handle = maas.agent(a, { caller: 'operator' });
  const bindings = maas.bindings;
  const op = { tag: 'operator' };
  const rounds = 2000;
  for (let i = 0; i < 200; i++) bindings.admin.currentLimits();
  let start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) bindings.admin.currentLimits();
  const pure = Number(process.hrtime.bigint() - start) / rounds / 1000;
  start = process.hrtime.bigint();
  for (let i = 0; i < rounds / 10; i++) bindings.admin.stats(op);
  const stats = Number(process.hrtime.bigint() - start) / (rounds / 10) / 1000;
  start = process.hrtime.bigint();
  for (let i = 0; i < rounds / 10; i++) handle.get();
  const audited = Number(process.hrtime.bigint() - start) / (rounds / 10) / 1000;
  t.diagnostic(`current-limits (no journal): ${pure.toFixed(1)} µs/call`);
  t.diagnostic(`stats (reads the journal head): ${stats.toFixed(1)} µs/call`);
  t.diagnostic(`agents.get (audited, one read-audit append): ${audited.toFixed(1)} µs/call`);
  assert.ok(pure > 0);
});

test('the target asks its source for input, and both follow the change feed', () => {
  const { a, b, h } = handoffSetup();
  const from = maas.agent(a).changes().nextCursor;
  maas.agent(b).accept(h.id);
  const asked = maas.agent(b).requestInput(h.id, 'Which endpoint?');
  assert.match(asked.status, /^input.required$/);
  refused(() => maas.agent(b).complete(h.id, {}), 'invalid_input');
  const answered = maas.agent(a).provideInput(h.id, 'POST /api/auth/login');
  assert.equal(answered.status, 'accepted');
  assert.equal(answered.question, 'Which endpoint?');
  const page = maas.agent(a).changes(from, { kinds: ['handoff'] });
  assert.deepEqual(
    page.changes.map((c) => c.kind),
    ['handoff.accepted', 'handoff.input_required', 'handoff.input_provided'],
  );
  assert.equal(page.hasMore, false);
  refused(() => maas.agent(a).changes('nonsense'), 'invalid_input');
});

test('a later createMaas with other options is refused; the same options get the same core', async () => {
  assert.equal(await createMaas(), maas);
  assert.equal(await createMaas({ limits: { agents: 0 } }), maas);
  for (const other of [{ persist: true }, { limits: { agents: 5 } }]) {
    await assert.rejects(createMaas(other), (e) => {
      assert.ok(e instanceof MaasError);
      assert.equal(e.code, 'invalid_input');
      assert.match(e.message, /already created with other options/);
      return true;
    });
  }
});

test('a limit that is not a whole number from 0 to 2^64-1 is refused naming it', async () => {
  const cases = [
    [{ writesPerMinute: -1 }, 'writes_per_minute'],
    [{ agents: 1.5 }, 'agents'],
    [{ memoryBytes: NaN }, 'memory_bytes'],
    [{ auditWindow: 2n ** 64n }, 'audit_window'],
    [{ memories: '10' }, 'memories'],
    [{ writesPerMinit: 10 }, 'writes_per_minit'],
  ];
  for (const [limits, field] of cases) {
    await assert.rejects(createMaas({ limits }), (e) => {
      assert.ok(e instanceof MaasError, `${field}: ${e}`);
      assert.equal(e.code, 'invalid_input');
      assert.equal(e.field, field);
      return true;
    });
  }
});

test('a number out of its WIT range is refused, not wrapped', () => {
  const { ids: [a] } = team();
  const field = (name) => (e) => assert.equal(e.field, name);
  refused(() => maas.agent(a).searchMemories('jwt', 2 ** 32 + 5), 'invalid_input', field('limit'));
  refused(() => maas.agent(a).pending({ limit: 2 ** 32 + 50 }), 'invalid_input', field('limit'));
  refused(() => maas.agent(a).storeMemory({ content: 'c', ttlSeconds: 1.5 }), 'invalid_input', field('ttl_seconds'));
  refused(() => maas.audit({ since: -5 }), 'invalid_input', field('since'));
  refused(() => maas.listAgents('owner-x', { limit: NaN }), 'invalid_input', field('limit'));
});

test('an argument of the wrong type is invalid input naming the field', () => {
  const { ids: [a, b] } = team();
  const field = (name) => (e) => assert.equal(e.field, name);
  refused(() => maas.agent(a).storeMemory({ content: 'c', tags: 'abc' }), 'invalid_input', field('tags'));
  refused(() => maas.agent(a).storeMemory({ content: 12345 }), 'invalid_input', field('content'));
  refused(() => maas.agent(a).initiateHandoff(b, { taskDescription: 't', memories: 'mem-1' }), 'invalid_input',
    field('relevant_memories'));
  refused(() => maas.agent(a, { caller: null }), 'invalid_input', field('caller'));
  refused(() => maas.getAgent(42), 'invalid_input', field('agent_id'));
  const cycle = {};
  cycle.self = cycle;
  refused(() => maas.registerAgent({ agentType: 'human', ownerId: 'o', metadata: cycle }), 'invalid_input',
    field('metadata'));
});

test('a handle from a token stops working once the token is rotated', () => {
  const reg = maas.registerAgent({ agentType: 'claude_code', ownerId: 'user-t', agentId: 'token-handle-1' });
  const viaToken = maas.authenticate(reg.token);
  assert.equal(viaToken.get().id, 'token-handle-1');
  // Its own rotation hands it the new token.
  viaToken.rotateToken();
  assert.equal(viaToken.storeMemory({ content: 'still me' }).author, 'token-handle-1');
  maas.rotateToken('token-handle-1');
  refused(() => viaToken.storeMemory({ content: 'with a revoked token' }), 'permission_denied');
  refused(() => viaToken.get(), 'permission_denied');
  // The page as operator speaking for the agent needs no token.
  assert.equal(maas.agent('token-handle-1').get().id, 'token-handle-1');
});

test("the operator's reads on an agent's behalf are in the agent's audit trail", () => {
  const { ids: [a] } = team();
  maas.agent(a).storeMemory({ memoryId: `${a}-m`, content: 'a private note' });
  maas.agent(a, { caller: 'operator' }).getMemory(`${a}-m`);
  const onBehalf = maas.audit({ agentId: a, limit: 1000 })
    .filter((e) => e.actor === 'operator' && JSON.parse(e.detail).on_behalf_of === a);
  assert.ok(onBehalf.some((e) => e.eventType === 'memory.read'), JSON.stringify(onBehalf.map((e) => e.eventType)));
});

test('an options object that is null, or not there where one is needed, is invalid input', async () => {
  const { ids: [a, b] } = team();
  const input = (field) => (e) => assert.equal(e.field, field);
  refused(() => maas.audit('all'), 'invalid_input', input('filter'));
  refused(() => maas.listAgents('owner-x', 5), 'invalid_input', input('page'));
  refused(() => maas.agent(a).changes(undefined, 'handoff'), 'invalid_input', input('filter'));
  refused(() => maas.agent(a).initiateHandoff(b), 'invalid_input', input('task_description'));
  refused(() => maas.registerAgent(), 'invalid_input', input('agent_type'));
  refused(() => maas.registerAgent({ ownerId: 'o' }), 'invalid_input', input('agent_type'));
  refused(() => maas.registerAgent({ ownerId: 'o', agentType: 'robot' }), 'invalid_input', input('agent_type'));
  refused(() => maas.createPool(), 'invalid_input', input('name'));
  refused(() => maas.createPool({ name: 'p', ownerId: 'o' }), 'invalid_input', input('scope'));
  refused(() => maas.agent(a).storeMemory(), 'invalid_input', input('content'));
  refused(() => maas.agent(a).storeMemory({ content: 'c', kind: 'poem' }), 'invalid_input', input('memory_kind'));
  await assert.rejects(createMaas(null), (e) => e instanceof MaasError && e.code === 'invalid_input' && e.field === 'options');
});

test('null where an options object may be left out means none', () => {
  const { ids: [a] } = team();
  assert.ok(Array.isArray(maas.audit(null)));
  assert.ok(Array.isArray(maas.listAgents('owner-x', null).items));
  assert.equal(maas.agent(a).changes(undefined, null).changes.length, 0);
  assert.equal(maas.agent(a, null).id, a);
});

test('clearPersisted refuses a storage key no journal can have, naming it', async () => {
  await assert.rejects(clearPersisted('app/main'), (e) => {
    assert.ok(e instanceof MaasError, String(e));
    assert.equal(e.code, 'invalid_input');
    assert.equal(e.field, 'storageKey');
    return true;
  });
});
