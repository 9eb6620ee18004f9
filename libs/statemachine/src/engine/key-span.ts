/**
 * Key ranges. The engine works on half-open byte ranges [start, end); etcd's request encoding
 * (single key, `rangeEnd`, "\0" for "to the end") is translated here, in one place.
 *
 * Keys inside the engine's maps are latin1 strings of the key bytes: one char per byte, so
 * JavaScript string order is unsigned byte order and equal bytes give equal strings.
 */
import type { KeySpan } from '../kv-types';

/** A half-open range of keys [start, end); `end` null means unbounded. */
export interface ScanRange {
  readonly start: Uint8Array;
  readonly end: Uint8Array | null;
}

const ZERO = Uint8Array.of(0);

/** True when the span names one key (no rangeEnd). */
export function isSingleKey(span: KeySpan): boolean {
  return span.rangeEnd === undefined || span.rangeEnd.byteLength === 0;
}

/** The scan range an etcd-encoded span covers. */
export function spanToScan(span: KeySpan): ScanRange {
  const end = span.rangeEnd;
  if (end === undefined || end.byteLength === 0) {
    return { start: span.key, end: keySuccessor(span.key) };
  }
  if (end.byteLength === 1 && end[0] === 0) {
    return { start: span.key, end: null };
  }
  return { start: span.key, end };
}

/** The smallest key greater than `key`: key + 0x00. */
export function keySuccessor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.byteLength + 1);
  out.set(key, 0);
  return out;
}

/** The rangeEnd that selects every key with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.byteLength - 1; i >= 0; i--) {
    if ((prefix[i] as number) < 0xff) {
      // A copy: Buffer.prototype.slice (unlike Uint8Array's) shares memory with the prefix.
      const end = Uint8Array.prototype.slice.call(prefix, 0, i + 1);
      end[i] = (end[i] as number) + 1;
      return end;
    }
  }
  return ZERO; // every byte 0xff: no upper bound
}

/** Unsigned byte order. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** The engine's map key for a key's bytes. */
export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** Inverse of keyString. */
export function keyBytes(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}

/** A scan range as map-key strings, for membership tests against keyString values. */
export interface ScanBounds {
  readonly start: string;
  readonly end: string | null;
}

export function scanBounds(range: ScanRange): ScanBounds {
  return { start: keyString(range.start), end: range.end === null ? null : keyString(range.end) };
}

export function inBounds(key: string, bounds: ScanBounds): boolean {
  return key >= bounds.start && (bounds.end === null || key < bounds.end);
}

/** True when the range cannot hold any key (inverted or empty). */
export function isEmptyRange(range: ScanRange): boolean {
  return range.end !== null && compareBytes(range.start, range.end) >= 0;
}
