/**
 * Seeded randomness for the simulation. Every decision the world makes comes from a SimRandom
 * derived from the run seed, so a seed replays exactly. Each concern (network, disk, faults,
 * clients, each member's core) draws from its own stream, so adding a draw in one concern does
 * not reshuffle the others.
 */
import { SeededRandom } from '@keyval/raft';

/** Mixes numbers into one 32-bit seed (murmur3 finalizer over a running combination). */
export function mixSeed(...parts: readonly number[]): number {
  let h = 0x2545f491;
  for (const part of parts) {
    let k = Math.imul(part >>> 0, 0xcc9e2d51) ^ Math.imul(Math.floor(part / 0x1_0000_0000) >>> 0, 0x1b873593);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Stream identifiers: one independent generator per concern. */
export enum Stream {
  Profile = 1,
  Network = 2,
  Disk = 3,
  Faults = 4,
  Clients = 5,
  Members = 6,
  Snapshots = 7,
  /** Targeted scenarios: their profile changes and their scripts' choices. */
  Scenario = 8,
}

/** A seeded generator with the helpers the simulation needs. Deterministic; not for crypto. */
export class SimRandom extends SeededRandom {
  constructor(readonly seed: number) {
    super(seed);
  }

  /** A generator for one concern of the run with seed `seed`. */
  static stream(seed: number, stream: Stream, ...more: readonly number[]): SimRandom {
    return new SimRandom(mixSeed(seed, stream, ...more));
  }

  /** A uniform integer in [lo, hi] (inclusive). */
  between(lo: number, hi: number): number {
    if (hi <= lo) {
      return lo;
    }
    return lo + this.nextInt(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.nextFloat() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) {
      throw new RangeError('pick from an empty array');
    }
    return items[this.nextInt(items.length)] as T;
  }

  /** An element chosen with the given non-negative weights (at least one positive). */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, weight] of choices) {
      total += weight;
    }
    let roll = this.nextFloat() * total;
    for (const [item, weight] of choices) {
      roll -= weight;
      if (roll < 0) {
        return item;
      }
    }
    const last = choices[choices.length - 1];
    if (last === undefined) {
      throw new RangeError('weighted choice from no choices');
    }
    return last[0];
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }

  /** An exponentially distributed value with the given mean (rounded to an integer >= 0). */
  exponential(mean: number): number {
    const u = 1 - this.nextFloat();
    return Math.round(-Math.log(u) * mean);
  }
}
