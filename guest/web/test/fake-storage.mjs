// Stand-ins for the browser the persisted journal runs in, shared by the storage tests:
// a localStorage with a quota, and "pages", each a fresh instance of the journal module
// on the same storage, as a reload or a second tab would be.
import assert from 'node:assert/strict';

export const KEY = 'maas.journal';

/**
 * A Storage stand-in with a quota in UTF-16 code units, counted as browsers do (key +
 * value). `refuse(k)` makes a write of `k` fail as a full storage does; `onGet(k)` and
 * `onSet(k)` run before each read and write, to count them or to run another page's work
 * in the middle of this one's. Setting `quota` later changes it.
 */
export function fakeStorage({ quota = 5 * 1024 * 1024, refuse = () => false, onGet = () => {}, onSet = () => {} } = {}) {
  const map = new Map();
  const used = () => [...map].reduce((n, [k, v]) => n + k.length + v.length, 0);
  const writes = [];
  return {
    map,
    writes,
    used,
    set quota(q) {
      quota = q;
    },
    getItem(k) {
      onGet(k);
      return map.get(k) ?? null;
    },
    setItem(k, v) {
      onSet(k);
      v = String(v);
      const after = used() - (map.has(k) ? k.length + map.get(k).length : 0) + k.length + v.length;
      if (after > quota || refuse(k)) {
        throw new DOMException(`Setting the value of '${k}' exceeded the quota.`, 'QuotaExceededError');
      }
      writes.push(k.length + v.length);
      map.set(k, v);
    },
    removeItem: (k) => void map.delete(k),
    key: (i) => [...map.keys()][i] ?? null,
    get length() {
      return map.size;
    },
  };
}

let pages = 0;
/**
 * A page on `storage`: a fresh journal module, configured to persist there. Node has no
 * Web Locks, so the page goes without (as a page that took the risk would).
 */
export async function open(storage, { key = KEY } = {}) {
  pages += 1;
  const journal = await import(`../src/journal.js?page=${pages}`);
  globalThis.localStorage = storage;
  await journal.configure({ persist: true, key, unsafeWithoutWebLocks: true });
  return journal;
}

export const bytes = (text) => new TextEncoder().encode(text);
export const b64 = (text) => Buffer.from(text).toString('base64');
export const texts = (journal) => journal.read(1n, 1000).map((e) => new TextDecoder().decode(e.data));

/** The values set aside under `key`, by their name after the set-aside's stamp. */
export function damaged(storage, key = KEY) {
  const out = {};
  for (const [k, v] of storage.map) {
    const m = k.startsWith(`${key}.damaged/`) && /^[^/]+\/(.+)$/.exec(k.slice(`${key}.damaged/`.length));
    if (m) out[m[1]] = v;
  }
  return out;
}

/** The set-asides under `key`: each one's stamp. */
export const setAsides = (storage, key = KEY) =>
  new Set([...storage.map.keys()].filter((k) => k.startsWith(`${key}.damaged/`)).map((k) => k.split('/')[1]));

export function refusedUnavailable(f, pattern) {
  assert.throws(f, (e) => {
    assert.equal(e.tag, 'unavailable');
    assert.match(e.val, pattern);
    return true;
  });
}
