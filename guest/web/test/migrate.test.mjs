// The single-key journal of earlier versions ({"entries":[base64…]} under the key) moved
// to one entry per key (src/storage.js): within the room it leaves, and never over an
// entry a page of this version wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY, b64, bytes, damaged, fakeStorage, open, refusedUnavailable, texts } from './fake-storage.mjs';

const single = (list) => JSON.stringify({ entries: list.map(b64) });

test('a page of an earlier version writing over a moved journal takes none of the entries written since', async (t) => {
  const warned = t.mock.method(console, 'warn', () => {});
  const storage = fakeStorage();
  storage.setItem(KEY, single(['one', 'two']));
  const page = await open(storage);
  page.append(2n, bytes('three from a new page'), true);
  page.append(3n, bytes('four from a new page'), true);
  // An old tab, loaded before the move, writes its whole journal under the key.
  storage.setItem(KEY, single(['one', 'two', 'three from an old page']));
  refusedUnavailable(() => page.append(4n, bytes('five'), true), /changed elsewhere/);
  const reloaded = await open(storage);
  assert.deepEqual(texts(reloaded), ['one', 'two', 'three from an old page']);
  assert.deepEqual(damaged(storage), { 3: b64('three from a new page'), 4: b64('four from a new page') });
  assert.equal(reloaded.journalInfo().setAside, 2);
  assert.equal(warned.mock.callCount(), 1);
  assert.match(warned.mock.calls[0].arguments[0], /2 entries .* earlier version .* set aside/s);
  // Entries the old copy holds as they are stay where they are.
  assert.equal(storage.getItem(`${KEY}/1`), b64('one'));
});

test('a single-key journal of more than half the quota moves', async () => {
  const entries = Array.from({ length: 30 }, (_, i) => `entry ${i} `.padEnd(150, '.'));
  const old = single(entries);
  const storage = fakeStorage({ quota: 10_000 });
  storage.setItem(KEY, old);
  assert.ok(old.length > 5_000, `${old.length} code units`);
  const page = await open(storage);
  assert.deepEqual(texts(page), entries);
  assert.equal(JSON.parse(storage.getItem(KEY)).head, 30);
  assert.deepEqual(texts(await open(storage)), entries);
});

test('a single-key journal that does not fit one entry per key is left as it was', async () => {
  const entries = Array.from({ length: 30 }, (_, i) => `entry ${i} `.padEnd(150, '.'));
  const old = single(entries);
  // Room for what is there and a little more, not for every entry's key.
  const storage = fakeStorage();
  storage.setItem(KEY, old);
  storage.setItem(`${KEY}/1`, b64(entries[0]));
  storage.quota = storage.used() + 100;
  await assert.rejects(open(storage), (e) => {
    assert.equal(e.tag, 'unavailable');
    assert.match(e.val, /no room to move/);
    return true;
  });
  assert.deepEqual(Object.fromEntries(storage.map), { [KEY]: old, [`${KEY}/1`]: b64(entries[0]) });
});
