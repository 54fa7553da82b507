// The `maas:core/journal` import, kept in memory and optionally mirrored to localStorage.
//
// jco lowers a `result<T, journal-error>` import from the function's outcome: a returned
// value is `ok`, a thrown plain object `{ tag, val }` is `err` with that variant. A thrown
// `Error` would be taken for a trap, so refusals are never thrown as `Error`s.

const entries = []; // entry n (1-based) is entries[n - 1], a Uint8Array
const reads = []; // the read-audit log: one record per audited read, oldest first
let storageKey = null; // set by `configure` when persisting

/** Chooses persistence before the core loads; reloads a persisted journal if there is one. */
export function configure({ persist = false, key = 'maas.journal' } = {}) {
  entries.length = 0;
  reads.length = 0;
  storageKey = null;
  if (!persist) return;
  const storage = globalThis.localStorage;
  if (!storage) return;
  storageKey = key;
  const saved = storage.getItem(key);
  if (!saved) return;
  const parsed = JSON.parse(saved);
  for (const text of parsed.entries ?? []) entries.push(fromBase64(text));
}

/** Forgets a persisted journal (the running core keeps its state until reloaded). */
export function clearPersisted(key = storageKey ?? 'maas.journal') {
  globalThis.localStorage?.removeItem(key);
}

/** How many entries the journal holds and their total size, for display. */
export function journalInfo() {
  let bytes = 0;
  for (const e of entries) bytes += e.length;
  return { head: entries.length, bytes, persisted: storageKey !== null };
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

export function append(expectedHead, data, sync) {
  const current = BigInt(entries.length);
  if (expectedHead !== current) throw { tag: 'conflict', val: current };
  // The core may reuse its buffer after the call returns: keep a copy.
  entries.push(new Uint8Array(data));
  if (sync) {
    try {
      flush();
    } catch (refusal) {
      entries.pop();
      throw refusal;
    }
  }
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
  reads.push(entry);
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

/** The newest `scan.limit` read-audit entries matching `scan`, oldest first. */
export function auditScan(scan) {
  const out = [];
  for (let i = reads.length - 1; i >= 0 && out.length < scan.limit; i--) {
    const e = reads[i];
    if (scan.actor !== undefined && e.actor !== scan.actor) continue;
    if (scan.agent !== undefined && e.actor !== scan.agent && e.target !== scan.agent) continue;
    if (scan.eventType !== undefined && e.eventType !== scan.eventType) continue;
    if (scan.since !== undefined && e.at < scan.since) continue;
    if (scan.until !== undefined && e.at >= scan.until) continue;
    out.push(e);
  }
  return out.reverse();
}

function flush() {
  if (storageKey === null) return;
  const doc = { entries: entries.map(toBase64) };
  try {
    globalThis.localStorage.setItem(storageKey, JSON.stringify(doc));
  } catch (e) {
    throw { tag: 'unavailable', val: `localStorage: ${e?.message ?? e}` };
  }
}

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
