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
  /**
   * Two words per slot: [hash, entry index + 1], 0 in the second meaning empty. Keeping the
   * hash here lets a probe skip non-matching slots without touching the arena, and lets
   * growth rehash without reading it. Load factor stays at most 1/2.
   */
  private table: Int32Array;
  /** Per entry: [state, bitset words...]. */
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
    this.stride = words + 1;
    this.capacity = 0;
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
    if (this.count >= this.capacity) {
      if (!this.grow()) {
        return CACHE_FULL;
      }
    }
    const h = hash ^ Math.imul(state + 1, 0x9e3779b1);
    const table = this.table;
    const arena = this.arena;
    const stride = this.stride;
    const words = this.words;
    const mask = (table.length >> 1) - 1;
    let slot = h & mask;
    for (;;) {
      const stored = table[2 * slot + 1] as number;
      if (stored === 0) {
        break;
      }
      if (table[2 * slot] === h) {
        const base = (stored - 1) * stride;
        if (arena[base] === state && sameBits(arena, base + 1, bits, words)) {
          return CACHE_PRESENT;
        }
      }
      slot = (slot + 1) & mask;
    }
    const base = this.count * stride;
    arena[base] = state;
    arena.set(bits, base + 1);
    this.count++;
    table[2 * slot] = h;
    table[2 * slot + 1] = this.count;
    return CACHE_INSERTED;
  }

  /** Returns every byte to the budget. The cache must not be used afterwards. */
  dispose(): void {
    this.budget.release(this.reservedBytes);
    this.reservedBytes = 0;
    this.table = new Int32Array(0);
    this.arena = new Uint32Array(0);
    this.count = 0;
    this.capacity = 0;
  }

  private grow(): boolean {
    const oldSlots = this.table.length >> 1;
    const slots = oldSlots === 0 ? INITIAL_SLOTS : oldSlots * 2;
    const capacity = slots / 2;
    const bytes = slots * 8 + capacity * this.stride * 4;
    if (!this.budget.tryReserve(bytes)) {
      return false;
    }
    const table = new Int32Array(2 * slots);
    const arena = new Uint32Array(capacity * this.stride);
    arena.set(this.arena.subarray(0, this.count * this.stride));
    const mask = slots - 1;
    const old = this.table;
    for (let oldSlot = 0; oldSlot < oldSlots; oldSlot++) {
      const stored = old[2 * oldSlot + 1] as number;
      if (stored === 0) {
        continue;
      }
      const h = old[2 * oldSlot] as number;
      let slot = h & mask;
      while (table[2 * slot + 1] !== 0) {
        slot = (slot + 1) & mask;
      }
      table[2 * slot] = h;
      table[2 * slot + 1] = stored;
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
