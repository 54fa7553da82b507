// createMaas in a process of its own, on a stored journal holding an entry the core cannot
// decode (good base64, not an entry): the page loads the entries before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createMaas } from '../src/maas.js';
import { KEY, damaged, fakeStorage } from './fake-storage.mjs';

/** The storage a first page leaves after registering `ids`, made in a process of its own. */
function journalOf(ids) {
  const maas = new URL('../src/maas.js', import.meta.url).href;
  const script = `
    const map = new Map();
    globalThis.localStorage = {
      getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, String(v)),
      removeItem: (k) => void map.delete(k), key: (i) => [...map.keys()][i] ?? null,
      get length() { return map.size; },
    };
    const { createMaas } = await import(${JSON.stringify(maas)});
    const maas = await createMaas({ persist: true, unsafeWithoutWebLocks: true });
    for (const agentId of ${JSON.stringify(ids)}) maas.registerAgent({ agentType: 'human', ownerId: 'o', agentId });
    process.stdout.write(JSON.stringify([...map]));`;
  return new Map(JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })));
}

test('an entry the core cannot decode is set aside with those after it, and the page loads the rest', async (t) => {
  const warned = t.mock.method(console, 'warn', () => {});
  const stored = journalOf(['first', 'second', 'third']);
  const head = JSON.parse(stored.get(KEY)).head;
  assert.ok(head >= 3, `head ${head}`);
  const storage = fakeStorage();
  for (const [k, v] of stored) storage.setItem(k, v);
  const third = storage.getItem(`${KEY}/3`);
  storage.setItem(`${KEY}/2`, btoa('garbage'));
  globalThis.localStorage = storage;

  const maas = await createMaas({ persist: true, unsafeWithoutWebLocks: true });
  assert.deepEqual(maas.journal(), { head: 1, bytes: maas.journal().bytes, persisted: true, setAside: head - 1 });
  assert.equal(maas.getAgent('first').id, 'first');
  assert.throws(() => maas.getAgent('third'), (e) => e.code === 'not_found');
  assert.equal(damaged(storage)[2], btoa('garbage'));
  assert.equal(damaged(storage)[3], third);
  assert.match(warned.mock.calls.map((c) => c.arguments[0]).join('\n'), /entry 2 .* cannot be decoded by the core.*set aside/);
  // The page goes on from there, and keeps what it writes.
  maas.registerAgent({ agentType: 'human', ownerId: 'o', agentId: 'after' });
  assert.equal(JSON.parse(storage.getItem(KEY)).head, 2);
});
