// The journal persisted in localStorage (src/storage.js through src/journal.js), over a
// stand-in for the browser's localStorage (test/fake-storage.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { KEY, b64, bytes, damaged, fakeStorage, open, refusedUnavailable, texts } from './fake-storage.mjs';

test('every entry is stored as it is appended, synced or not', async () => {
  const storage = fakeStorage();
  const page = await open(storage);
  page.append(0n, bytes('registered'), true);
  // A denial is appended unsynced; the page may be closed before any synced write.
  page.append(1n, bytes('denied'), false);
  const reloaded = await open(storage);
  assert.deepEqual(texts(reloaded), ['registered', 'denied']);
});

test('a write stores one entry, not the whole journal again', async () => {
  const storage = fakeStorage();
  const page = await open(storage);
  const entry = bytes('x'.repeat(1000));
  for (let n = 0n; n < 200n; n++) page.append(n, entry, true);
  storage.writes.length = 0;
  page.append(200n, entry, true);
  const written = storage.writes.reduce((a, b) => a + b, 0);
  assert.ok(written < 2 * 1400, `one append wrote ${written} code units`);
  assert.equal(storage.getItem(`${KEY}/201`), b64('x'.repeat(1000)));
});

test('the single-key form of earlier versions is moved to one entry per key', async () => {
  const storage = fakeStorage();
  storage.setItem(KEY, JSON.stringify({ entries: [b64('one'), b64('two')] }));
  const page = await open(storage);
  assert.deepEqual(texts(page), ['one', 'two']);
  assert.equal(storage.getItem(`${KEY}/1`), b64('one'));
  assert.equal(storage.getItem(`${KEY}/2`), b64('two'));
  assert.equal(JSON.parse(storage.getItem(KEY)).head, 2);
  page.append(2n, bytes('three'), true);
  assert.deepEqual(texts(await open(storage)), ['one', 'two', 'three']);
});

test('an unreadable entry ends the journal there and the rest is set aside', async (t) => {
  const warned = t.mock.method(console, 'warn', () => {});
  const storage = fakeStorage();
  storage.setItem(KEY, JSON.stringify({ entries: [b64('one'), b64('two'), '%%%', b64('four')] }));
  const page = await open(storage);
  assert.deepEqual(texts(page), ['one', 'two']);
  assert.equal(page.journalInfo().setAside, 2);
  assert.equal(warned.mock.callCount(), 1);
  assert.match(warned.mock.calls[0].arguments[0], /set aside/);
  assert.deepEqual(damaged(storage), { 3: '%%%', 4: b64('four') });
  // The page goes on from the history before the damage.
  page.append(2n, bytes('three again'), true);
  const reloaded = await open(storage);
  assert.deepEqual(texts(reloaded), ['one', 'two', 'three again']);
  assert.equal(reloaded.journalInfo().setAside, 0);
});

test('a missing entry ends the journal there too', async (t) => {
  t.mock.method(console, 'warn', () => {});
  const storage = fakeStorage();
  const page = await open(storage);
  for (const [n, text] of ['one', 'two', 'three'].entries()) page.append(BigInt(n), bytes(text), true);
  storage.removeItem(`${KEY}/2`);
  const reloaded = await open(storage);
  assert.deepEqual(texts(reloaded), ['one']);
  assert.equal(reloaded.journalInfo().setAside, 2);
  assert.deepEqual(damaged(storage), { 3: b64('three') });
});

test('a stored journal that cannot be parsed is set aside whole', async (t) => {
  t.mock.method(console, 'warn', () => {});
  const storage = fakeStorage();
  storage.setItem(KEY, `{"entries":["${b64('one')}`);
  const page = await open(storage);
  assert.equal(page.journalInfo().head, 0);
  assert.equal(page.journalInfo().setAside, 1);
  assert.deepEqual(damaged(storage), { record: `{"entries":["${b64('one')}` });
  page.append(0n, bytes('fresh'), true);
  assert.deepEqual(texts(await open(storage)), ['fresh']);
});

test('a full storage refuses the write and leaves nothing half-written', async () => {
  const storage = fakeStorage({ quota: 4000 });
  const page = await open(storage);
  let head = 0n;
  assert.throws(() => {
    for (;;) head = page.append(head, bytes('y'.repeat(300)), true);
  }, (e) => e.tag === 'unavailable' && /quota/.test(e.val));
  assert.equal(page.head(), head);
  assert.equal(storage.getItem(`${KEY}/${head + 1n}`), null);
  assert.equal((await open(storage)).head(), head);
});

test('an entry whose head record cannot be written is taken back', async () => {
  let full = false;
  const storage = fakeStorage({ refuse: (k) => full && k === KEY });
  const page = await open(storage);
  page.append(0n, bytes('one'), true);
  full = true;
  refusedUnavailable(() => page.append(1n, bytes('two'), true), /quota/);
  assert.equal(storage.getItem(`${KEY}/2`), null);
  assert.equal(page.head(), 1n);
  full = false;
  assert.deepEqual(texts(await open(storage)), ['one']);
});

test('a page whose journal another page wrote refuses to write over it', async () => {
  const storage = fakeStorage();
  // Two pages on one key without Web Locks (Node has none; an older page takes none).
  const a = await open(storage);
  const b = await open(storage);
  a.append(0n, bytes('from a'), true);
  refusedUnavailable(() => b.append(0n, bytes('from b'), true), /changed elsewhere.*reload/s);
  assert.deepEqual(texts(await open(storage)), ['from a']);
  // A page of an earlier version writes the single-key form over the head record.
  storage.setItem(KEY, JSON.stringify({ entries: [b64('old page')] }));
  refusedUnavailable(() => a.append(1n, bytes('more from a'), true), /changed elsewhere/);
});

test('a lock-less page that wrote the same head at the same moment is caught at its next write', async () => {
  let meanwhile = null;
  const storage = fakeStorage({
    onSet: () => {
      const f = meanwhile;
      meanwhile = null;
      f?.();
    },
  });
  const a = await open(storage);
  const b = await open(storage);
  // B's whole append lands between A's check and A's write: both are told theirs was
  // kept, and A's entry 1 is the one stored (the risk `unsafeWithoutWebLocks` takes).
  meanwhile = () => b.append(0n, bytes('from b'), true);
  a.append(0n, bytes('from a'), true);
  assert.deepEqual(texts(await open(storage)), ['from a']);
  // Both head records say 1, but not who wrote them the same: B does not write its
  // entry 2 after an entry 1 that is not its own.
  refusedUnavailable(() => b.append(1n, bytes('b goes on'), true), /changed elsewhere/);
  a.append(1n, bytes('a goes on'), true);
  assert.deepEqual(texts(await open(storage)), ['from a', 'a goes on']);
});

test('without Web Locks a page is refused persistence unless it takes the risk', async () => {
  const journal = await import('../src/journal.js?page=nolocks');
  globalThis.localStorage = fakeStorage();
  await assert.rejects(journal.configure({ persist: true, key: KEY }), (e) => {
    assert.equal(e.tag, 'unavailable');
    assert.match(e.val, /no Web Locks.*secure context \(https, or http on localhost\)/s);
    return true;
  });
  assert.equal(journal.journalInfo().persisted, false);
  await journal.configure({ persist: true, key: KEY, unsafeWithoutWebLocks: true });
  assert.equal(journal.journalInfo().persisted, true);
});

test('without any localStorage persistence is refused, not silently dropped', async () => {
  const journal = await import('../src/journal.js?page=nostorage');
  delete globalThis.localStorage;
  await assert.rejects(journal.configure({ persist: true, key: KEY, unsafeWithoutWebLocks: true }), (e) => {
    assert.equal(e.tag, 'unavailable');
    assert.match(e.val, /no localStorage/);
    return true;
  });
});

test('a storage key that could overlap another journal, or that Web Locks refuse, is refused', async () => {
  const journal = await import('../src/journal.js?page=keys');
  globalThis.localStorage = fakeStorage();
  for (const key of ['a/1', 'app/main', 'x.damaged', '-journal', '', 5]) {
    for (const attempt of [
      journal.configure({ persist: true, key, unsafeWithoutWebLocks: true }),
      journal.clearPersisted(key),
    ]) {
      await assert.rejects(attempt, (e) => {
        assert.equal(e.tag, 'invalid-input', String(key));
        assert.equal(e.val.field, 'storageKey');
        return true;
      });
    }
  }
});

test("clearing a journal removes its own keys and no other journal's", async () => {
  const storage = fakeStorage();
  const page = await open(storage, { key: 'app' });
  page.append(0n, bytes('one'), true);
  const others = { 'app.other': 'x', 'app/main': 'y', 'app/main/1': 'z', 'app/1x': 'w', 'apple/1': 'v' };
  for (const [k, v] of Object.entries(others)) storage.setItem(k, v);
  storage.setItem('app.damaged/1/2', 'set aside');
  await page.clearPersisted('app');
  assert.deepEqual(Object.fromEntries(storage.map), others);
});

test('after clearing its own journal a page refuses to write, saying why', async () => {
  const storage = fakeStorage();
  const page = await open(storage);
  page.append(0n, bytes('one'), true);
  await page.clearPersisted();
  refusedUnavailable(() => page.append(1n, bytes('two'), true), /was cleared.*reload/s);
  assert.equal(storage.map.size, 0);
});

test('a head record claiming more entries than there are costs only the entries there are', async (t) => {
  t.mock.method(console, 'warn', () => {});
  let reads = 0;
  const storage = fakeStorage({
    onGet: () => {
      // Walking the claimed head would never end: stop it as a failure instead.
      if (++reads > 10_000) throw new Error('the load walks the claimed head');
    },
  });
  const page = await open(storage);
  page.append(0n, bytes('one'), true);
  storage.map.set(KEY, JSON.stringify({ v: 2, head: Number.MAX_SAFE_INTEGER, entries: false }));
  storage.map.set(`${KEY}/3`, b64('three, after a gap'));
  reads = 0;
  const reloaded = await open(storage);
  assert.deepEqual(texts(reloaded), ['one']);
  assert.deepEqual(damaged(storage), { 3: b64('three, after a gap') });
  assert.equal(JSON.parse(storage.getItem(KEY)).head, 1);
});

test('a second set-aside keeps the first', async (t) => {
  t.mock.method(console, 'warn', () => {});
  const storage = fakeStorage();
  const page = await open(storage);
  for (const [n, text] of ['one', 'two', 'three'].entries()) page.append(BigInt(n), bytes(text), true);
  storage.setItem(`${KEY}/2`, '%% first damage');
  const once = await open(storage);
  once.append(1n, bytes('two again'), true);
  once.append(2n, bytes('three again'), true);
  storage.setItem(`${KEY}/2`, '%% second damage');
  await open(storage);
  const kept = [...storage.map].filter(([k]) => k.startsWith(`${KEY}.damaged/`)).map(([, v]) => v).sort();
  assert.deepEqual(kept, ['%% first damage', '%% second damage', b64('three'), b64('three again')].sort());
});
