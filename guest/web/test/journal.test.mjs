// The journal import on its own: the packed read-audit entries the core hands over, and
// the read-audit log they go to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as journal from '../src/journal.js';

const { unpackRead } = journal;

const ABSENT = 0xffffffff;

// Packs as the core does (`maas_core::journal::pack_read`).
function pack(e) {
  const text = new TextEncoder();
  const parts = [];
  const u64 = new DataView(new ArrayBuffer(16));
  u64.setBigUint64(0, e.seq, true);
  u64.setBigUint64(8, e.at, true);
  parts.push(new Uint8Array(u64.buffer));
  for (const name of ['actor', 'eventType', 'target', 'outcome', 'detail', 'prev']) {
    const len = new DataView(new ArrayBuffer(4));
    if (e[name] === undefined) {
      len.setUint32(0, ABSENT, true);
      parts.push(new Uint8Array(len.buffer));
      continue;
    }
    const bytes = text.encode(e[name]);
    len.setUint32(0, bytes.length, true);
    parts.push(new Uint8Array(len.buffer), bytes);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const entry = {
  seq: 42n,
  at: 1700000000123n,
  actor: 'agent-é',
  eventType: 'agent.read',
  target: 'a1',
  outcome: 'ok',
  detail: '{"n":1}',
  prev: 'ab12',
};

test('a packed read-audit entry comes back whole', () => {
  assert.deepEqual(unpackRead(pack(entry)), entry);
  const bare = { ...entry, target: undefined, prev: undefined };
  assert.deepEqual(unpackRead(pack(bare)), bare);
});

test('a malformed packed entry is refused', () => {
  const bytes = pack(entry);
  for (let n = 0; n < bytes.length; n++) assert.equal(unpackRead(bytes.subarray(0, n)), null, `cut at ${n}`);
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  assert.equal(unpackRead(longer), null);
  const absentActor = bytes.slice();
  new DataView(absentActor.buffer).setUint32(16, ABSENT, true);
  assert.equal(unpackRead(absentActor), null);
  const notUtf8 = bytes.slice();
  notUtf8[20] = 0xff;
  assert.equal(unpackRead(notUtf8), null);
});

const ALL = 0xffffffff;

test('the read-audit log keeps the newest reads up to its window', async () => {
  await journal.configure();
  // The core's default audit window; the log is bounded by it (src/journal.js).
  const window = journal.READ_WINDOW ?? 100_000;
  const read = pack({ ...entry, seq: 0n });
  const seq = new DataView(read.buffer);
  for (let n = 1; n <= window + 3; n++) {
    seq.setBigUint64(0, BigInt(n), true);
    journal.auditAppend(read);
  }
  const kept = journal.auditScan({ limit: ALL });
  assert.equal(kept.length, window);
  assert.equal(kept[0].seq, 4n);
  assert.equal(kept.at(-1).seq, BigInt(window + 3));
  assert.deepEqual(journal.auditScan({ limit: 2 }).map((e) => e.seq), [BigInt(window + 2), BigInt(window + 3)]);
});

test("the agent filter finds the operator's reads on the agent's behalf", async () => {
  await journal.configure();
  const read = (actor, target, detail) => journal.auditAppend(pack({ ...entry, actor, target, detail }));
  read('operator', undefined, '{"on_behalf_of":"a1","query":"jwt"}');
  read('operator', 'm9', '{"on_behalf_of":"a2"}');
  read('a3', undefined, '{"on_behalf_of":"a1"}'); // only the operator acts on behalf
  read('a1', undefined, '{}');
  const about = (agent) => journal.auditScan({ agent, limit: ALL }).map((e) => `${e.actor} ${e.detail}`);
  assert.deepEqual(about('a1'), ['operator {"on_behalf_of":"a1","query":"jwt"}', 'a1 {}']);
  assert.deepEqual(about('a2'), ['operator {"on_behalf_of":"a2"}']);
});
