// The journal kept in localStorage, one entry per key, for a page that persists it.
//
// Under the storage key K:
//   K                        the head record, {"v":2,"head":n,"writer":w,...}: how many
//                            entries there are, and which page wrote them last
//   K/1 … K/n                the entries, base64
//   K.damaged/<stamp>/<i>    values set aside because they could not be read, or because
//                            two pages wrote different histories; <stamp> is new at every
//                            set-aside, so nothing set aside is ever written over
// An append writes its entry, then the head record: one entry's worth of work, where the
// single-key form of earlier versions ({"entries":[base64…]} under K, moved to this one at
// the first load) re-encoded the whole journal on every write.
//
// Architecture invariant: no journal's keys are another's. A storage key holds no `/` and
// no `.damaged` and does not start with `-` (`checkKey`), and only the names above are
// read, set aside or removed, so `a` never touches `a/1`'s journal nor `app` `app/main`'s.
//
// One page writes a key at a time: `lock` takes the key's Web Lock for the page's life,
// and refuses where there are no Web Locks (an insecure context) unless the caller takes
// the risk. A page writing without the lock (one that took that risk, or one of an earlier
// version) is caught by `append`, which compares the head record with the one this page
// last wrote before every write; the writer in the record makes two pages' records of the
// same head differ. Two lock-less pages writing at the same moment can still both be
// acknowledged: the check then stops whichever writes next.
//
// Refusals are `{ tag, val }`, as the journal import throws them.

const unavailable = (val) => ({ tag: 'unavailable', val });

/** `n` and the noun, singular or plural as `n` asks. */
const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** The Web Locks held by this page, by storage key: each one's release. */
const held = new Map();

/**
 * Refuses a storage key whose names could be another journal's (see the invariant above),
 * or that the Web Lock API would refuse (a name starting with `-`).
 */
export function checkKey(key) {
  const bad = (reason) => ({ tag: 'invalid-input', val: { field: 'storageKey', reason } });
  if (typeof key !== 'string' || key === '') throw bad('must be a non-empty string');
  if (key.includes('/')) throw bad(`must not contain "/" (a journal's entries are kept under "<key>/1", "<key>/2", …), not ${JSON.stringify(key)}`);
  if (key.includes('.damaged')) throw bad(`must not contain ".damaged" (where values are set aside), not ${JSON.stringify(key)}`);
  if (key.startsWith('-')) throw bad(`must not start with "-" (Web Lock names that do are reserved), not ${JSON.stringify(key)}`);
}

/**
 * Takes the key's exclusive Web Lock, held until the page goes away, or refuses if another
 * page holds it. Where there are no Web Locks it refuses too, unless `optional`: then
 * only `append`'s check guards.
 */
export async function lock(key, { optional = false } = {}) {
  const locks = globalThis.navigator?.locks;
  if (held.has(key)) return;
  if (!locks) {
    if (optional) return;
    throw unavailable(
      `this page has no Web Locks, so it cannot make sure no other tab writes the journal "${key}" ` +
        'at the same time (both would be told their writes were kept, and one would be lost): a ' +
        'secure context (https, or http on localhost) is needed to keep the journal in this ' +
        'browser; without persist the page works but forgets everything when reloaded',
    );
  }
  const got = await new Promise((resolve, reject) => {
    locks
      .request(key, { ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        // The lock lasts as long as this promise: until `release`, or the page's end.
        return lock && new Promise((release) => held.set(key, release));
      })
      .catch(reject);
  });
  if (!got) {
    throw unavailable(
      `the journal "${key}" is open in another tab or window of this site: close it and ` +
        'reload, or give this page another storageKey',
    );
  }
}

/** Lets go of the key's Web Lock, if this page holds it (a load that failed). */
export function unlock(key) {
  held.get(key)?.();
  held.delete(key);
}

/** The journal under one storage key. */
export class StoredJournal {
  #storage;
  #key;
  /** This page's mark in the head records it writes. */
  #writer = nonce();
  /** The head record as this page last read or wrote it (null: none stored). */
  #record = null;
  /** Why appends are refused from now on (the journal was cleared), or null. */
  #closed = null;

  constructor(storage, key) {
    this.#storage = storage;
    this.#key = key;
  }

  /**
   * Reads the journal: `{ entries, setAside, warnings }`, the entries as Uint8Arrays,
   * `setAside` counting the values the load could not take, `warnings` saying what
   * became of them. Moves the single-key form to one entry per key first. An entry that
   * cannot be read (missing, not base64) ends the journal there: the entries from it on
   * are set aside, as the native host sets a damaged tail aside.
   */
  load() {
    const raw = this.#storage.getItem(this.#key);
    this.#record = raw;
    const empty = { entries: [], setAside: 0, warnings: [] };
    if (raw === null) return empty;
    let doc;
    try {
      doc = JSON.parse(raw);
    } catch {
      doc = null;
    }
    if (Array.isArray(doc?.entries)) return this.#migrate(raw, doc.entries);
    if (doc?.v !== 2 || !Number.isSafeInteger(doc.head) || doc.head < 0) {
      // Not a head record: with no head to check them against, no entry can be trusted.
      const stamp = this.#stamp();
      this.#moveAside(stamp, 'record', this.#key);
      const moved = this.#setAside(stamp, 1);
      this.#writeRecord(0);
      return {
        ...empty,
        setAside: moved + 1,
        warnings: [
          `the head record of the journal "${this.#key}" cannot be read: it and ` +
            `${count(moved, 'entry', 'entries')} were set aside under "${this.#key}.damaged/${stamp}/", ` +
            'and the journal starts again from nothing',
        ],
      };
    }
    const entries = [];
    // Up to the first entry missing, not to the head the record claims: a record claiming
    // 2^53 entries costs no more than the entries there are.
    for (let seq = 1; seq <= doc.head; seq++) {
      const text = this.#storage.getItem(`${this.#key}/${seq}`);
      const bytes = decode(text);
      if (bytes === null) {
        const why = text === null ? `is missing (the head record counts ${doc.head})` : 'is not base64';
        const { moved, warning } = this.setAsideFrom(seq, why);
        return { entries, setAside: moved + (text === null ? 1 : 0), warnings: [warning] };
      }
      entries.push(bytes);
    }
    return { entries, setAside: 0, warnings: [] };
  }

  /**
   * Ends the journal at entry `seq - 1`: sets aside the entries from `seq` on (entry `seq`
   * `why`) and writes the head record. Returns `{ moved, warning }`.
   */
  setAsideFrom(seq, why) {
    const stamp = this.#stamp();
    const moved = this.#setAside(stamp, seq);
    this.#writeRecord(seq - 1);
    const where =
      moved > 0 ? `; ${count(moved, 'value', 'values')} from it on set aside under "${this.#key}.damaged/${stamp}/"` : '';
    return { moved, warning: `entry ${seq} of the journal "${this.#key}" ${why}${where}; the journal goes on from entry ${seq - 1}` };
  }

  /**
   * Stores entry `seq` (the head is `seq - 1`), or refuses with nothing written: if the
   * head record is not the one this page last wrote (another page wrote the journal), or
   * if storage refuses (its quota).
   */
  append(seq, bytes) {
    if (this.#closed !== null) throw unavailable(this.#closed);
    if (this.#storage.getItem(this.#key) !== this.#record) {
      throw unavailable(
        `the journal "${this.#key}" was changed elsewhere (another tab or window of this ` +
          'site): reload the page to continue from what it holds',
      );
    }
    const key = `${this.#key}/${seq}`;
    try {
      this.#storage.setItem(key, toBase64(bytes));
      this.#writeRecord(seq);
    } catch (e) {
      this.#storage.removeItem(key);
      throw unavailable(`localStorage: ${e?.message ?? e}`);
    }
  }

  /** Refuses every later append: the journal was removed from under this page, by itself. */
  cleared() {
    this.#closed =
      `the journal "${this.#key}" was cleared (clearPersisted): reload the page to start ` +
      'from nothing, or the next write would be the first of a journal without its start';
  }

  /**
   * Moves the single-key form's entries to their own keys, then reads them as usual.
   *
   * Written within the room the old value leaves, so a journal of more than half the
   * quota moves too: the old value is held here and removed first, and if the new layout
   * does not fit, everything written is removed and the old value put back (it fitted
   * before), so nothing is lost either way.
   *
   * An entry key already there that the old copy does not hold (a page of this version
   * moved the journal and appended, then a page of an earlier version wrote its whole
   * journal over the head record) is not written over: the two histories cannot be kept
   * as one, the old copy, written last, goes on as the journal and the others are set
   * aside.
   */
  #migrate(raw, texts) {
    const conflicts = this.#entryNumbers()
      .map((n) => [n, this.#storage.getItem(`${this.#key}/${n}`)])
      .filter(([n, value]) => value !== texts[n - 1]);
    const stamp = conflicts.length > 0 ? this.#stamp() : null;
    const written = [];
    const set = (key, value) => {
      this.#storage.setItem(key, value);
      written.push(key);
    };
    try {
      this.#storage.removeItem(this.#key);
      for (const [n] of conflicts) this.#storage.removeItem(`${this.#key}/${n}`);
      for (const [n, value] of conflicts) set(`${this.#key}.damaged/${stamp}/${n}`, value);
      texts.forEach((text, i) => {
        const key = `${this.#key}/${i + 1}`;
        // A non-string is left out: the load below then ends the journal there.
        if (typeof text === 'string' && this.#storage.getItem(key) !== text) set(key, text);
      });
      set(this.#key, this.#recordOf(texts.length));
    } catch (e) {
      for (const key of written) this.#storage.removeItem(key);
      this.#storage.setItem(this.#key, raw);
      for (const [n, value] of conflicts) this.#storage.setItem(`${this.#key}/${n}`, value);
      throw unavailable(
        `localStorage has no room to move the journal "${this.#key}" to one entry per key ` +
          `(${e?.message ?? e}): free some space, or clear it`,
      );
    }
    const loaded = this.load();
    if (conflicts.length === 0) return loaded;
    return {
      ...loaded,
      setAside: loaded.setAside + conflicts.length,
      warnings: [
        `${count(conflicts.length, 'entry', 'entries')} of the journal "${this.#key}" written ` +
          'by a page of this version differ from, or go past, the whole journal a page of an ' +
          `earlier version wrote over them: set aside under "${this.#key}.damaged/${stamp}/"; ` +
          `the journal goes on from the earlier version's copy (${count(texts.length, 'entry', 'entries')})`,
        ...loaded.warnings,
      ],
    };
  }

  #recordOf(head) {
    // `entries: false` makes a page of an earlier version fail to load this journal
    // (it iterates `entries`) instead of starting from nothing and writing over it.
    return JSON.stringify({ v: 2, head, writer: this.#writer, entries: false });
  }

  #writeRecord(head) {
    const record = this.#recordOf(head);
    this.#storage.setItem(this.#key, record);
    this.#record = record;
  }

  /** The numbers of the entry keys there are, whatever the head record says. */
  #entryNumbers() {
    const prefix = `${this.#key}/`;
    return keysOf(this.#storage)
      .map((key) => (key.startsWith(prefix) ? key.slice(prefix.length) : ''))
      .filter((n) => /^[1-9][0-9]*$/.test(n))
      .map(Number);
  }

  /** Sets aside the entry keys from `from` on, under `stamp`; returns how many. */
  #setAside(stamp, from) {
    let moved = 0;
    for (const n of this.#entryNumbers()) {
      if (n >= from) moved += this.#moveAside(stamp, n, `${this.#key}/${n}`);
    }
    return moved;
  }

  /** A name for one set-aside that no earlier one has used. */
  #stamp() {
    const taken = keysOf(this.#storage).filter((k) => k.startsWith(`${this.#key}.damaged/`));
    let stamp = Date.now();
    while (taken.some((k) => k.startsWith(`${this.#key}.damaged/${stamp}/`))) stamp += 1;
    return String(stamp);
  }

  /** Moves the value under `from` to K.damaged/<stamp>/<name>; returns 1 if there was one. */
  #moveAside(stamp, name, from) {
    const value = this.#storage.getItem(from);
    if (value === null) return 0;
    // Removed first, so the copy fits in the room it leaves.
    this.#storage.removeItem(from);
    try {
      this.#storage.setItem(`${this.#key}.damaged/${stamp}/${name}`, value);
    } catch (e) {
      console.warn(`maas: could not keep damaged ${from} (${e?.message ?? e}); it is gone`);
    }
    return 1;
  }
}

/**
 * Removes the journal under `key`: its head record, its entries and what was set aside,
 * and no other key. Refuses, as `lock` does, while another page has it open; where there
 * are no Web Locks no page of this version can have it open (`lock` refuses them) unless
 * it took that risk.
 */
export async function clear(storage, key) {
  checkKey(key);
  const mine = held.has(key);
  if (!mine) await lock(key, { optional: true });
  try {
    const entry = /^[1-9][0-9]*$/;
    const ours = (k) =>
      k === key ||
      (k.startsWith(`${key}/`) && entry.test(k.slice(key.length + 1))) ||
      k.startsWith(`${key}.damaged/`);
    for (const k of keysOf(storage).filter(ours)) storage.removeItem(k);
  } finally {
    if (!mine) unlock(key);
  }
}

/** Every key in `storage`, listed before any is removed. */
function keysOf(storage) {
  const keys = [];
  for (let i = 0; i < storage.length; i++) keys.push(storage.key(i));
  return keys;
}

/** A random mark for this page's head records (crypto.randomUUID needs a secure context). */
function nonce() {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** The bytes of a stored entry, or null if it is missing or not base64. */
function decode(text) {
  if (typeof text !== 'string') return null;
  let s;
  try {
    s = atob(text);
  } catch {
    return null;
  }
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
