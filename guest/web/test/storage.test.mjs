// The journal persisted in localStorage (src/storage.js through src/journal.js), over a
// stand-in for the browser's localStorage. Each "page" is a fresh instance of the journal
// module on the same storage, as a reload or a second tab would be.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const KEY = 'maas.journal';

/** A Storage stand-in with a quota in UTF-16 code units, counted as browsers do (key + value). */
function fakeStorage({ quota = 5 * 1024 * 1024, refuse = () => false } = {}) {
  const map = new Map();
  const used = () => [...map].reduce((n, [k, v]) => n + k.length + v.length, 0);
  const writes = [];
  return {
    map,
    writes,
    getItem: (k) => map.get(k) ?? null,
    setItem(k, v) {
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
/** A page on `storage`: a fresh journal module, configured to persist there. */
async function open(storage) {
  pages += 1;
  const journal = await import(`../src/journal.js?page=${pages}`);
  globalThis.localStorage = storage;
  await journal.configure({ persist: true, key: KEY });
  return journal;
}

const bytes = (text) => new TextEncoder().encode(text);
const b64 = (text) => Buffer.from(text).toString('base64');
const texts = (journal) => journal.read(1n, 1000).map((e) => new TextDecoder().decode(e.data));

function refusedUnavailable(f, pattern) {
  assert.throws(f, (e) => {
    assert.equal(e.tag, 'unavailable');
    assert.match(e.val, pattern);
    return true;
  });
}

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
  assert.equal(storage.getItem(`${KEY}.damaged/3`), '%%%');
  assert.equal(storage.getItem(`${KEY}.damaged/4`), b64('four'));
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
  assert.equal(storage.getItem(`${KEY}.damaged/3`), b64('three'));
});

test('a stored journal that cannot be parsed is set aside whole', async (t) => {
  t.mock.method(console, 'warn', () => {});
  const storage = fakeStorage();
  storage.setItem(KEY, `{"entries":["${b64('one')}`);
  const page = await open(storage);
  assert.equal(page.journalInfo().head, 0);
  assert.equal(page.journalInfo().setAside, 1);
  assert.equal(storage.getItem(`${KEY}.damaged/record`), `{"entries":["${b64('one')}`);
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
