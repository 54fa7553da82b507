// Checks of the arguments the wrapper hands to jco. jco does not refuse an out-of-range
// number, it wraps it (`2**32 + 5` becomes the u32 5, `-1` the u64 2^64-1), takes a
// string for a list (of its characters), and throws TypeError or RangeError for the rest:
// these turn each into an `invalid-input` naming the field (as the core names it) first.

const U32_MAX = 0xffffffffn;
const U64_MAX = 0xffffffffffffffffn;

/** A refusal as the core's errors look: `{ tag, val: { field, reason } }`. */
export class ArgumentError {
  constructor(field, reason) {
    this.tag = 'invalid-input';
    this.val = { field, reason };
  }
}

function whole(field, v, max) {
  const ok =
    (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) &&
    BigInt(v) >= 0n &&
    BigInt(v) <= max;
  if (!ok) throw new ArgumentError(field, `must be a whole number from 0 to ${max}, not ${String(v)}`);
  return BigInt(v);
}

const absent = (v) => v === undefined || v === null;

/** An optional u32 as a number (undefined when absent). */
export const u32 = (field, v) => (absent(v) ? undefined : Number(whole(field, v, U32_MAX)));

/** An optional u64 as a BigInt (undefined when absent). */
export const u64 = (field, v) => (absent(v) ? undefined : whole(field, v, U64_MAX));

/** A required u32 as a number. */
export function needU32(field, v) {
  if (absent(v)) throw new ArgumentError(field, 'is required');
  return u32(field, v);
}

/** A required string. */
export function text(field, v) {
  if (typeof v !== 'string') throw new ArgumentError(field, `must be a string, not ${typeof v}`);
  return v;
}

/** An optional string (undefined when absent). */
export const maybeText = (field, v) => (absent(v) ? undefined : text(field, v));

/** A list of strings; absent is `fallback`. */
export function texts(field, v, fallback = []) {
  if (absent(v)) return fallback;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw new ArgumentError(field, 'must be an array of strings');
  }
  return v;
}

/** An optional JSON text: a string as it is, anything else serialized. */
export function jsonText(field, v) {
  if (absent(v) || typeof v === 'string') return v ?? undefined;
  try {
    return JSON.stringify(v);
  } catch (e) {
    throw new ArgumentError(field, `cannot be sent as JSON: ${e?.message ?? e}`);
  }
}

/** An optional object of named arguments (`request`, `filter`, `page`); absent is `{}`. */
export function fields(field, v) {
  if (absent(v)) return {};
  if (typeof v !== 'object') throw new ArgumentError(field, `must be an object, not ${typeof v}`);
  return v;
}
