/**
 * The memo of the Wing–Gong–Lowe search: the set of (linearized operations, model state)
 * configurations already explored. An open-addressing hash set over a flat arena, so a
 * lookup allocates nothing; the caller supplies an incrementally maintained (Zobrist) hash
 * of the bitset. All arenas of a check draw on one {@link MemoryBudget}.
 */
import { InvalidOptionError, invariant } from './lincheck.error';

/** Shared byte budget for the caches of one check. */
export class MemoryBudget {
  private usedBytesNow = 0;

  /** @throws InvalidOptionError unless `limitBytes` is a positive number */
  constructor(readonly limitBytes: number) {
    if (!(limitBytes > 0)) {
      throw new InvalidOptionError('maxCacheBytes', `must be positive, got ${limitBytes}`);
    }
  }

  get usedBytes(): number {
    return this.usedBytesNow;
  }

  /** Takes `bytes` from the budget; false (taking nothing) if that would exceed it. */
  tryReserve(bytes: number): boolean {
    if (this.usedBytesNow + bytes > this.limitBytes) {
      return false;
    }
    this.usedBytesNow += bytes;
    return true;
  }

  /** Gives back bytes taken with {@link tryReserve}. */
  release(bytes: number): void {
    invariant(bytes <= this.usedBytesNow, 'released more cache bytes than reserved');
    this.usedBytesNow -= bytes;
  }
}

/** {@link StateCache.insert} results. */
export const CACHE_INSERTED = 1;
export const CACHE_PRESENT = 0;
export const CACHE_FULL = -1;

const INITIAL_SLOTS = 256;

/** A set of (bitset of `words` 32-bit words, state id) pairs. */
export class StateCache {
  /** Slot -> entry index + 1; 0 is empty. Load factor stays at most 1/2. */
  private table: Int32Array;
  /** Per entry: [hash, state, bitset words...]. */
  private arena: Uint32Array;
  private readonly stride: number;
  private count = 0;
  private capacity: number;
  private reservedBytes = 0;

  constructor(
    private readonly words: number,
    private readonly budget: MemoryBudget,
  ) {
    invariant(words > 0, 'a cache needs at least one bitset word');
    this.stride = words + 2;
    this.capacity = INITIAL_SLOTS / 2;
    this.table = new Int32Array(0);
    this.arena = new Uint32Array(0);
  }

  /** Entries stored. */
  get size(): number {
    return this.count;
  }

  /**
   * Adds (bits, state) unless present. `hash` must depend only on `bits`.
   * @returns CACHE_INSERTED, CACHE_PRESENT, or CACHE_FULL when the budget is exhausted
   */
  insert(bits: Uint32Array, hash: number, state: number): number {
    if (this.count >= this.capacity || this.table.length === 0) {
      if (!this.grow()) {
        return CACHE_FULL;
      }
    }
    const h = (hash ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0;
    const table = this.table;
    const arena = this.arena;
    const stride = this.stride;
    const words = this.words;
    const mask = table.length - 1;
    let slot = h & mask;
    for (;;) {
      const stored = table[slot] as number;
      if (stored === 0) {
        break;
      }
      const base = (stored - 1) * stride;
      if (arena[base] === h && arena[base + 1] === state && sameBits(arena, base + 2, bits, words)) {
        return CACHE_PRESENT;
      }
      slot = (slot + 1) & mask;
    }
    const base = this.count * stride;
    arena[base] = h;
    arena[base + 1] = state;
    arena.set(bits, base + 2);
    this.count++;
    table[slot] = this.count;
    return CACHE_INSERTED;
  }

  /** Returns every byte to the budget. The cache must not be used afterwards. */
  dispose(): void {
    this.budget.release(this.reservedBytes);
    this.reservedBytes = 0;
    this.table = new Int32Array(0);
    this.arena = new Uint32Array(0);
    this.count = 0;
  }

  private grow(): boolean {
    const slots = this.table.length === 0 ? INITIAL_SLOTS : this.table.length * 2;
    const capacity = slots / 2;
    const bytes = slots * 4 + capacity * this.stride * 4;
    if (!this.budget.tryReserve(bytes)) {
      return false;
    }
    const table = new Int32Array(slots);
    const arena = new Uint32Array(capacity * this.stride);
    arena.set(this.arena.subarray(0, this.count * this.stride));
    const mask = slots - 1;
    for (let entry = 0; entry < this.count; entry++) {
      let slot = (arena[entry * this.stride] as number) & mask;
      while (table[slot] !== 0) {
        slot = (slot + 1) & mask;
      }
      table[slot] = entry + 1;
    }
    this.budget.release(this.reservedBytes);
    this.reservedBytes = bytes;
    this.table = table;
    this.arena = arena;
    this.capacity = capacity;
    return true;
  }
}

function sameBits(arena: Uint32Array, offset: number, bits: Uint32Array, words: number): boolean {
  for (let w = 0; w < words; w++) {
    if (arena[offset + w] !== bits[w]) {
      return false;
    }
  }
  return true;
}

/** A fixed pseudo-random 32-bit value per operation index (splitmix32), for Zobrist hashing. */
export function zobristKeys(count: number): Int32Array {
  const keys = new Int32Array(count);
  let seed = 0x2545f491;
  for (let i = 0; i < count; i++) {
    seed = (seed + 0x9e3779b9) | 0;
    let z = seed;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    keys[i] = z ^ (z >>> 16);
  }
  return keys;
}
