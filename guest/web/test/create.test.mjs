// createMaas in a process of its own, whose first load fails: the failure is not kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMaas, MaasError } from '../src/maas.js';

test('persist without a localStorage, or on a key that could overlap another, is refused', async () => {
  delete globalThis.localStorage;
  const refused = (options, code, pattern) =>
    assert.rejects(createMaas(options), (e) => {
      assert.ok(e instanceof MaasError, String(e));
      assert.equal(e.code, code);
      assert.match(e.message, pattern);
      return true;
    });
  await refused({ persist: true, unsafeWithoutWebLocks: true }, 'unavailable', /no localStorage/);
  await refused({ persist: true }, 'unavailable', /no localStorage/);
  for (const storageKey of ['a/1', '-journal', 'k.damaged']) {
    await refused({ persist: true, storageKey, unsafeWithoutWebLocks: true }, 'invalid_input', /^invalid_input: storageKey: /);
  }
});

test('a load that failed is not kept: the next createMaas tries again', async () => {
  // localStorage refuses the first read, as a browser does with storage blocked.
  let blocked = true;
  const map = new Map();
  globalThis.localStorage = {
    getItem(k) {
      if (blocked) throw new DOMException('The operation is insecure.', 'SecurityError');
      return map.get(k) ?? null;
    },
    setItem: (k, v) => void map.set(k, String(v)),
    removeItem: (k) => void map.delete(k),
    key: (i) => [...map.keys()][i] ?? null,
    get length() {
      return map.size;
    },
  };
  // Node has no Web Locks: this process is the only page.
  const options = { persist: true, unsafeWithoutWebLocks: true };
  await assert.rejects(createMaas(options), (e) => {
    assert.ok(e instanceof MaasError, String(e));
    assert.equal(e.code, 'unavailable');
    assert.match(e.message, /insecure/);
    return true;
  });
  blocked = false;
  const maas = await createMaas(options);
  maas.registerAgent({ agentType: 'human', ownerId: 'o', agentId: 'after-retry' });
  assert.equal(maas.journal().persisted, true);
  assert.equal(await createMaas({ persist: true }), maas);
});

test('a later createMaas with no options gets the core already created', async () => {
  const maas = await createMaas();
  assert.equal(maas.journal().persisted, true);
  assert.equal(await createMaas({}), maas);
});
