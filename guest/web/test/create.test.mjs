// createMaas in a process of its own, whose first load fails: the failure is not kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMaas, MaasError } from '../src/maas.js';

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
  await assert.rejects(createMaas({ persist: true }), (e) => {
    assert.ok(e instanceof MaasError, String(e));
    assert.equal(e.code, 'unavailable');
    assert.match(e.message, /insecure/);
    return true;
  });
  blocked = false;
  const maas = await createMaas({ persist: true });
  maas.registerAgent({ agentType: 'human', ownerId: 'o', agentId: 'after-retry' });
  assert.equal(maas.journal().persisted, true);
  assert.equal(await createMaas({ persist: true }), maas);
});
