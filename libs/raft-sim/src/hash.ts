/**
 * Small, fast, deterministic hashes (FNV-1a, 32-bit) for checking that entries and states are
 * identical across members. Not cryptographic: a collision could hide a divergence, but the
 * chance per comparison is 2^-32 and checks compare indexes and terms exactly as well.
 */

const entryHashes = new WeakMap<Uint8Array, number>();

/** FNV-1a over bytes. */
export function hashBytes(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h = Math.imul(h ^ (data[i] as number), 0x01000193);
  }
  return h >>> 0;
}

/** hashBytes, memoised per buffer (entries are immutable and shared between core and driver). */
export function hashData(data: Uint8Array): number {
  const known = entryHashes.get(data);
  if (known !== undefined) {
    return known;
  }
  const h = hashBytes(data);
  entryHashes.set(data, h);
  return h;
}

/** FNV-1a over a string's UTF-16 code units. */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/** Folds integers into a running 32-bit hash. */
export function hashInts(seed: number, ...values: readonly number[]): number {
  let h = seed >>> 0;
  for (const v of values) {
    h = Math.imul(h ^ (v & 0xffff), 0x01000193);
    h = Math.imul(h ^ (v >>> 16), 0x01000193);
  }
  return h >>> 0;
}
