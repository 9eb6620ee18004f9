/**
 * The memo of the Wing–Gong–Lowe search: the set of (linearized operations, model state)
 * configurations already explored. An open-addressing hash set over a flat arena, so a
 * lookup allocates nothing; the caller supplies an incrementally maintained (Zobrist) hash
 * of the linearized set. All caches of a check draw on one {@link MemoryBudget}.
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

/** {@link StateCache.insert}: the configuration was new and is now stored. */
export const CACHE_INSERTED = 1;
/** {@link StateCache.insert}: the configuration was already explored. */
export const CACHE_PRESENT = 0;
/** {@link StateCache.insert}: not stored, the memory budget is exhausted. */
export const CACHE_FULL = -1;

const INITIAL_SLOTS = 256;

/**
 * A set of configurations. A configuration is the model state plus the set of linearized
 * operations, given as a bitset in two regions: determinate operations (positions in call
 * order, `[0, determinateWords)` words) and indeterminate ones (the `indeterminateWords`
 * words after them). In the just-in-time search every determinate operation before the
 * first unplaced one (`low`) is always placed, so an entry stores only `low`, the words
 * from `low` to the last placed determinate operation, and the indeterminate words: a few
 * words however long the history.
 */
export class StateCache {
  /**
   * Two words per slot: [hash, arena offset + 1], 0 in the second meaning empty. Keeping the
   * hash here lets a probe skip non-matching slots without touching the arena, and lets
   * growth rehash without reading it. Load factor stays at most 1/2.
   */
  private table = new Int32Array(0);
  /** Entries back to back: [state, low, window length, window words..., indeterminate words...]. */
  private arena = new Uint32Array(0);
  private arenaUsed = 0;
  private count = 0;
  private capacity = 0;
  private tableBytes = 0;
  private arenaBytes = 0;

  constructor(
    private readonly determinateWords: number,
    private readonly indeterminateWords: number,
    private readonly budget: MemoryBudget,
  ) {
    invariant(determinateWords >= 0 && indeterminateWords >= 0, 'negative bitset size');
  }

  /** Entries stored. */
  get size(): number {
    return this.count;
  }

  /**
   * Adds a configuration unless present. `hash` must depend only on the set of linearized
   * operations; `low` is the first unplaced determinate position, and words
   * `[wordStart, wordEnd)` of `bits` cover every placed determinate position from `low` on.
   * @returns CACHE_INSERTED, CACHE_PRESENT, or CACHE_FULL when the budget is exhausted
   */
  insert(bits: Uint32Array, hash: number, state: number, low: number, wordStart: number, wordEnd: number): number {
    const windowWords = wordEnd - wordStart;
    const entryWords = 3 + windowWords + this.indeterminateWords;
    if ((this.count >= this.capacity && !this.growTable()) || (this.arenaUsed + entryWords > this.arena.length && !this.growArena(entryWords))) {
      return CACHE_FULL;
    }
    const h = hash ^ Math.imul(state + 1, 0x9e3779b1);
    const table = this.table;
    const arena = this.arena;
    const mask = (table.length >> 1) - 1;
    let slot = h & mask;
    for (;;) {
      const stored = table[2 * slot + 1] as number;
      if (stored === 0) {
        break;
      }
      if (table[2 * slot] === h) {
        const offset = stored - 1;
        if (arena[offset] === state && arena[offset + 1] === low && arena[offset + 2] === windowWords && this.sameWords(offset + 3, bits, wordStart, windowWords)) {
          return CACHE_PRESENT;
        }
      }
      slot = (slot + 1) & mask;
    }
    const offset = this.arenaUsed;
    arena[offset] = state;
    arena[offset + 1] = low;
    arena[offset + 2] = windowWords;
    // Plain loops: subarray() would allocate a view per insert.
    for (let w = 0; w < windowWords; w++) {
      arena[offset + 3 + w] = bits[wordStart + w] as number;
    }
    const first = this.determinateWords;
    const base = offset + 3 + windowWords;
    for (let w = 0; w < this.indeterminateWords; w++) {
      arena[base + w] = bits[first + w] as number;
    }
    this.arenaUsed += entryWords;
    this.count++;
    table[2 * slot] = h;
    table[2 * slot + 1] = offset + 1;
    return CACHE_INSERTED;
  }

  /** Returns every byte to the budget. The cache must not be used afterwards. */
  dispose(): void {
    this.budget.release(this.tableBytes + this.arenaBytes);
    this.tableBytes = 0;
    this.arenaBytes = 0;
    this.table = new Int32Array(0);
    this.arena = new Uint32Array(0);
    this.arenaUsed = 0;
    this.count = 0;
    this.capacity = 0;
  }

  private sameWords(offset: number, bits: Uint32Array, wordStart: number, windowWords: number): boolean {
    const arena = this.arena;
    for (let w = 0; w < windowWords; w++) {
      if (arena[offset + w] !== bits[wordStart + w]) {
        return false;
      }
    }
    const base = offset + windowWords;
    const first = this.determinateWords;
    for (let w = 0; w < this.indeterminateWords; w++) {
      if (arena[base + w] !== bits[first + w]) {
        return false;
      }
    }
    return true;
  }

  private growTable(): boolean {
    const oldSlots = this.table.length >> 1;
    const slots = oldSlots === 0 ? INITIAL_SLOTS : oldSlots * 2;
    const bytes = slots * 8;
    if (!this.budget.tryReserve(bytes)) {
      return false;
    }
    const table = new Int32Array(2 * slots);
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
    this.budget.release(this.tableBytes);
    this.tableBytes = bytes;
    this.table = table;
    this.capacity = slots / 2;
    return true;
  }

  private growArena(entryWords: number): boolean {
    const words = Math.max(2 * this.arena.length, 1024, this.arenaUsed + entryWords);
    invariant(words < 2 ** 31, 'cache arena beyond 2^31 words');
    const bytes = words * 4;
    if (!this.budget.tryReserve(bytes)) {
      return false;
    }
    const arena = new Uint32Array(words);
    arena.set(this.arena.subarray(0, this.arenaUsed));
    this.budget.release(this.arenaBytes);
    this.arenaBytes = bytes;
    this.arena = arena;
    return true;
  }
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
