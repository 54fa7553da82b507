// The `maas:core/journal` import, kept in memory and optionally in localStorage
// (src/storage.js).
//
// jco lowers a `result<T, journal-error>` import from the function's outcome: a returned
// value is `ok`, a thrown plain object `{ tag, val }` is `err` with that variant. A thrown
// `Error` would be taken for a trap, so refusals are never thrown as `Error`s.

import { StoredJournal, checkKey, clear, lock, unlock } from './storage.js';

/**
 * Most read-audit entries kept, the newest: the core's default audit window (100,000,
 * `audit_window` in guest/core/src/limits.rs), about 30 MiB of records. The log lives in
 * the page only, so without a bound a long-lived page grows it until the tab dies.
 */
export const READ_WINDOW = 100_000;

const entries = []; // entry n (1-based) is entries[n - 1], a Uint8Array
let stored = null; // the StoredJournal when persisting
let storageKey = null; // its key
let setAside = 0; // entries the load set aside as damaged

// The read-audit log, oldest first: a ring of at most READ_WINDOW records, the oldest at
// `readsFirst` once it is full.
const reads = [];
let readsFirst = 0;

/**
 * Chooses persistence before the core loads and reads a persisted journal if there is
 * one. With `persist`, takes the key's Web Lock for the page's life first (see
 * src/storage.js), and refuses where there are no Web Locks unless
 * `unsafeWithoutWebLocks`. Rejects with `{ tag, val }`: `invalid-input` for a storage key
 * that could overlap another journal's, `unavailable` for the rest.
 */
export async function configure({ persist = false, key = 'maas.journal', unsafeWithoutWebLocks = false } = {}) {
  entries.length = 0;
  reads.length = 0;
  readsFirst = 0;
  stored = null;
  // A load retried on the same key keeps the lock it took; any other lets it go.
  if (storageKey !== null && !(persist && storageKey === key)) unlock(storageKey);
  storageKey = null;
  setAside = 0;
  if (!persist) return;
  let warnings;
  try {
    checkKey(key);
    // Read inside the try: a browser blocking storage throws on the read itself.
    const storage = globalThis.localStorage;
    if (!storage) {
      throw {
        tag: 'unavailable',
        val: 'there is no localStorage here to keep the journal in (Node has none): leave persist out, or set globalThis.localStorage to a Storage first',
      };
    }
    await lock(key, { optional: unsafeWithoutWebLocks });
    const journal = new StoredJournal(storage, key);
    const loaded = journal.load();
    for (const entry of loaded.entries) entries.push(entry);
    setAside = loaded.setAside;
    warnings = loaded.warnings;
    stored = journal;
    storageKey = key;
  } catch (e) {
    unlock(key);
    entries.length = 0;
    setAside = 0;
    throw typeof e?.tag === 'string' ? e : { tag: 'unavailable', val: `localStorage: ${e?.message ?? e}` };
  }
  for (const warning of warnings) console.warn(`maas: ${warning}`);
}

/**
 * Ends the journal before entry `seq`, which the core could not decode at its load:
 * entry `seq` and those after it are set aside as a damaged tail (src/storage.js), so the
 * core can go on from the entries before. False if there is no such entry.
 */
export function setAsideFrom(seq) {
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > entries.length) return false;
  const moved = entries.length - seq + 1;
  const warning = stored?.setAsideFrom(seq, 'cannot be decoded by the core').warning;
  entries.length = seq - 1;
  setAside += moved;
  console.warn(`maas: ${warning ?? `entry ${seq} cannot be decoded by the core; the journal goes on from entry ${seq - 1}`}`);
  return true;
}

/**
 * Forgets a persisted journal, set-aside entries included (the running core keeps its
 * state until reloaded, and a page clearing its own journal writes no more). Rejects with
 * `{ tag, val }`: `invalid-input` for a key no journal can have, `unavailable` while
 * another page has the journal open.
 */
export async function clearPersisted(key = storageKey ?? 'maas.journal') {
  try {
    checkKey(key);
    const storage = globalThis.localStorage;
    if (!storage) return;
    await clear(storage, key);
  } catch (e) {
    throw typeof e?.tag === 'string' ? e : { tag: 'unavailable', val: `localStorage: ${e?.message ?? e}` };
  }
  if (key === storageKey) stored?.cleared();
}

/** How many entries the journal holds, their total size and how many the load set aside. */
export function journalInfo() {
  let bytes = 0;
  for (const e of entries) bytes += e.length;
  return { head: entries.length, bytes, persisted: stored !== null, setAside };
}

export function head() {
  return BigInt(entries.length);
}

/** The head and the time now (ms since the epoch, the WASI wall clock's source). */
export function headAndTime() {
  return [BigInt(entries.length), BigInt(Date.now())];
}

export function read(from, max) {
  const start = from < 1n ? 0 : Number(from) - 1;
  const out = [];
  for (let i = start; i < entries.length && out.length < max; i++) {
    out.push({ seq: BigInt(i + 1), data: entries[i] });
  }
  return out;
}

// Every entry is stored as it is appended, whatever `sync` says: a page can be closed at
// any moment, and nothing would carry an unsynced entry (an audited denial) to storage.
export function append(expectedHead, data, _sync) {
  const current = BigInt(entries.length);
  if (expectedHead !== current) throw { tag: 'conflict', val: current };
  // The core may reuse its buffer after the call returns: keep a copy.
  const entry = new Uint8Array(data);
  stored?.append(entries.length + 1, entry);
  entries.push(entry);
  return current + 1n;
}

/**
 * Appends a read's audit entry to the read-audit log (kept in the page only). The entry
 * comes packed (see `audit-append` in wit/journal.wit): `seq` and `at` as 8 bytes
 * little-endian, then six fields, each a 4-byte little-endian length and that many UTF-8
 * bytes, 0xFFFFFFFF for an absent `target` or `prev`.
 */
export function auditAppend(packed) {
  const entry = unpackRead(packed);
  if (entry === null) throw { tag: 'unavailable', val: 'malformed read-audit entry' };
  if (reads.length < READ_WINDOW) {
    reads.push(entry);
  } else {
    reads[readsFirst] = entry;
    readsFirst = (readsFirst + 1) % READ_WINDOW;
  }
}

const ABSENT = 0xffffffff;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The read-audit record packed in `bytes`, or null if it is not exactly one. */
export function unpackRead(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const u64 = () => {
    if (at + 8 > bytes.length) return null;
    const v = view.getBigUint64(at, true);
    at += 8;
    return v;
  };
  const field = () => {
    if (at + 4 > bytes.length) return null;
    const len = view.getUint32(at, true);
    at += 4;
    if (len === ABSENT) return { absent: true };
    if (at + len > bytes.length) return null;
    let text;
    try {
      text = utf8.decode(bytes.subarray(at, at + len));
    } catch {
      return null;
    }
    at += len;
    return { text };
  };
  const seq = u64();
  const time = u64();
  if (seq === null || time === null) return null;
  const names = ['actor', 'eventType', 'target', 'outcome', 'detail', 'prev'];
  const optional = new Set(['target', 'prev']);
  const entry = { seq, at: time };
  for (const name of names) {
    const f = field();
    if (f === null || (f.absent && !optional.has(name))) return null;
    entry[name] = f.absent ? undefined : f.text;
  }
  return at === bytes.length ? entry : null;
}

/**
 * The newest `scan.limit` read-audit entries matching `scan`, oldest first. The agent
 * filter also takes the operator's entries whose detail names the agent as
 * `on_behalf_of` (wit/journal.wit).
 */
export function auditScan(scan) {
  const out = [];
  for (let k = reads.length - 1; k >= 0 && out.length < scan.limit; k--) {
    const e = reads[(readsFirst + k) % reads.length];
    if (scan.actor !== undefined && e.actor !== scan.actor) continue;
    if (scan.agent !== undefined && !names(e, scan.agent)) continue;
    if (scan.eventType !== undefined && e.eventType !== scan.eventType) continue;
    if (scan.since !== undefined && e.at < scan.since) continue;
    if (scan.until !== undefined && e.at >= scan.until) continue;
    out.push(e);
  }
  return out.reverse();
}

/** Whether read-audit entry `e` is about `agent`: its actor, its target, or acted for. */
function names(e, agent) {
  if (e.actor === agent || e.target === agent) return true;
  // Cheap test first: most details never mention on_behalf_of.
  if (e.actor !== 'operator' || !e.detail.includes('on_behalf_of')) return false;
  try {
    return JSON.parse(e.detail)?.on_behalf_of === agent;
  } catch {
    return false;
  }
}
