// The journal kept in localStorage, one entry per key, for a page that persists it.
//
// Under the storage key K:
//   K              the head record, {"v":2,"head":n,...}: how many entries there are
//   K/1 … K/n      the entries, base64
//   K.damaged/<i>  entries set aside at a load because they could not be read
// An append writes its entry, then the head record: one entry's worth of work, where the
// single-key form of earlier versions ({"entries":[base64…]} under K, moved to this one at
// the first load) re-encoded the whole journal on every write.
//
// One page writes a key at a time: `lock` takes the key's Web Lock for the page's life.
// A page that does not take it (one of an earlier version) is caught by `append`, which
// compares the head record with the one this page last wrote before every write.
//
// Refusals are `{ tag: 'unavailable', val }`, as the journal import throws them.

const unavailable = (val) => ({ tag: 'unavailable', val });

/** The Web Locks held by this page, by storage key: each one's release. */
const held = new Map();

/**
 * Takes the key's exclusive Web Lock, held until the page goes away, or refuses if another
 * page holds it. Without Web Locks (Node, older browsers) only `append`'s check guards.
 */
export async function lock(key) {
  const locks = globalThis.navigator?.locks;
  if (!locks || held.has(key)) return;
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
  /** The head record as this page last read or wrote it (null: none stored). */
  #record = null;

  constructor(storage, key) {
    this.#storage = storage;
    this.#key = key;
  }

  /**
   * Reads the journal: `{ entries, setAside }`, the entries as Uint8Arrays. Moves the
   * single-key form to one entry per key first. An entry that cannot be read (missing, not
   * base64) ends the journal there: it and those after it are set aside under K.damaged/,
   * as the native host sets a damaged tail aside, and `setAside` counts them.
   */
  load() {
    const raw = this.#storage.getItem(this.#key);
    this.#record = raw;
    if (raw === null) return { entries: [], setAside: 0 };
    let doc;
    try {
      doc = JSON.parse(raw);
    } catch {
      doc = null;
    }
    if (Array.isArray(doc?.entries)) return this.#migrate(doc.entries);
    if (doc?.v !== 2 || !Number.isSafeInteger(doc.head) || doc.head < 0) {
      // Not a head record: with no head to check them against, no entry can be trusted.
      let setAside = 1;
      this.#moveAside('record', this.#key);
      for (let i = 1; this.#storage.getItem(`${this.#key}/${i}`) !== null; i++, setAside++) {
        this.#moveAside(i, `${this.#key}/${i}`);
      }
      this.#writeRecord(0);
      return { entries: [], setAside };
    }
    const entries = [];
    for (let seq = 1; seq <= doc.head; seq++) {
      const bytes = decode(this.#storage.getItem(`${this.#key}/${seq}`));
      if (bytes === null) {
        for (let i = seq; i <= doc.head; i++) this.#moveAside(i, `${this.#key}/${i}`);
        this.#writeRecord(seq - 1);
        return { entries, setAside: doc.head - seq + 1 };
      }
      entries.push(bytes);
    }
    return { entries, setAside: 0 };
  }

  /**
   * Stores entry `seq` (the head is `seq - 1`), or refuses with nothing written: if the
   * head record is not the one this page last wrote (another page wrote the journal), or
   * if storage refuses (its quota).
   */
  append(seq, bytes) {
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

  /** Moves the single-key form's entries to their own keys, then reads them as usual. */
  #migrate(texts) {
    try {
      texts.forEach((text, i) => {
        // A non-string is left out: the load below then sets it aside as missing.
        if (typeof text === 'string') this.#storage.setItem(`${this.#key}/${i + 1}`, text);
      });
      this.#writeRecord(texts.length);
    } catch (e) {
      texts.forEach((_, i) => this.#storage.removeItem(`${this.#key}/${i + 1}`));
      throw unavailable(
        `localStorage has no room to move the journal "${this.#key}" to one entry per key ` +
          `(${e?.message ?? e}): free some space, or clear it`,
      );
    }
    return this.load();
  }

  #writeRecord(head) {
    // `entries: false` makes a page of an earlier version fail to load this journal
    // (it iterates `entries`) instead of starting from nothing and writing over it.
    const record = JSON.stringify({ v: 2, head, entries: false });
    this.#storage.setItem(this.#key, record);
    this.#record = record;
  }

  /** Moves the value under `from` to K.damaged/<name>, if there is one. */
  #moveAside(name, from) {
    const value = this.#storage.getItem(from);
    if (value === null) return;
    // Removed first, so the copy fits in the room it leaves.
    this.#storage.removeItem(from);
    try {
      this.#storage.setItem(`${this.#key}.damaged/${name}`, value);
    } catch (e) {
      console.warn(`maas: could not keep damaged ${from} (${e?.message ?? e}); it is gone`);
    }
  }
}

/**
 * Removes the journal under `key`, its entries and those set aside; refuses, as `lock`
 * does, while another page has it open.
 */
export async function clear(storage, key) {
  const mine = held.has(key);
  if (!mine) await lock(key);
  try {
    const keys = [];
    for (let i = 0; i < storage.length; i++) {
      const k = storage.key(i);
      if (k === key || k.startsWith(`${key}/`) || k.startsWith(`${key}.damaged/`)) keys.push(k);
    }
    for (const k of keys) storage.removeItem(k);
  } finally {
    if (!mine) unlock(key);
  }
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
