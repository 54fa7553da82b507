// The journal import on its own: the packed read-audit entries the core hands over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unpackRead } from '../src/journal.js';

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
