/**
 * Wing–Gong–Lowe search with just-in-time linearization over one partition, resumable in
 * slices of steps so that a scheduler can interleave partitions and stop at the first
 * illegal one.
 *
 * The history is a doubly-linked list of call and return entries in time order. Walking it
 * from the head, a call entry whose operation is legal in the current state is linearized:
 * its call and return entries are unlinked, (entry, state) is pushed on an undo stack, and
 * the walk restarts at the head. Reaching a return entry means that operation was not
 * linearized before it returned, so the last choice is undone (pop, relink) and the walk
 * continues after it. A configuration (set of linearized operations, state) already in the
 * cache is never explored twice. The search succeeds when every operation with a known
 * return is linearized (indeterminate ones can always go last), and fails when it must undo
 * with an empty stack.
 *
 * Entries: 0 is the head; the call of operation i is 2i+1 and its return 2i+2.
 *
 * The linearized set is a bitset over positions (determinate operations in call order, then
 * indeterminate ones). A determinate operation is placed before the walk passes its return,
 * so all positions below the first unplaced one (`low`) are placed and only the window from
 * `low` to the last placed one (`high`) goes into a cache key (see state-cache.ts).
 */
import { LincheckInvariantError, invariant } from './lincheck.error';
import { OUT_OF_MEMORY, stepModel } from './model';
import type { Partition } from './partition';
import { CACHE_FULL, CACHE_INSERTED, type MemoryBudget, StateCache, zobristKeys } from './state-cache';

/** Where a search stands after {@link PartitionSearch.run}. */
export type SearchStatus = 'running' | 'linearizable' | 'illegal' | 'out-of-memory';

const HEAD = 0;
const NIL = -1;

/** The search over one partition. Allocates only when its cache grows. */
export class PartitionSearch {
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly bits: Uint32Array;
  private readonly zobrist: Int32Array;
  private readonly stackEntry: Int32Array;
  private readonly stackState: Int32Array;
  /** `low` and `high` before each push, restored on pop. */
  private readonly stackLow: Int32Array;
  private readonly stackHigh: Int32Array;
  /**
   * Bit position of each operation: determinate ones in call order from 0, indeterminate
   * ones after the determinate words. Position `determinateCount` is always clear.
   */
  private readonly position: Int32Array;
  /** First unplaced determinate position: every position below it is placed. */
  private low = 0;
  /** One past the last placed determinate position (at least `low`). */
  private high = 0;
  private readonly cache: StateCache;
  /**
   * The linearization found that holds the most operations with a known return (the first
   * such): bestStack[0 .. bestDepth) are call entries. Counting only determinate operations
   * keeps indeterminate ones out of counterexamples unless they are needed.
   */
  private readonly bestStack: Int32Array;
  private bestDepth = 0;
  private bestRemaining: number;
  /** bestStack[0 .. agreeDepth) equals stackEntry[0 .. agreeDepth). */
  private agreeDepth = 0;
  private hash = 0;
  private depth = 0;
  private state: number;
  /** Operations with a known return that are not linearized yet. */
  private remaining = 0;
  private cursor: number;
  private statusNow: SearchStatus = 'running';
  private stepsTaken = 0;

  constructor(
    readonly partition: Partition,
    budget: MemoryBudget,
  ) {
    const size = partition.size;
    this.next = new Int32Array(2 * size + 1);
    this.prev = new Int32Array(2 * size + 1);
    const { position, determinateWords, indeterminateWords } = assignPositions(partition);
    this.position = position;
    this.bits = new Uint32Array(determinateWords + indeterminateWords);
    this.zobrist = zobristKeys(size);
    this.stackEntry = new Int32Array(size);
    this.stackState = new Int32Array(size);
    this.stackLow = new Int32Array(size);
    this.stackHigh = new Int32Array(size);
    this.bestStack = new Int32Array(size);
    this.cache = new StateCache(determinateWords, indeterminateWords, budget);
    this.state = partition.initialState;
    for (let i = 0; i < size; i++) {
      this.remaining += partition.determinate[i] as number;
    }
    this.bestRemaining = this.remaining;
    this.linkEntries();
    this.cursor = this.next[HEAD] as number;
    if (this.remaining === 0) {
      this.finish('linearizable');
    }
  }

  /** The current status. */
  get status(): SearchStatus {
    return this.statusNow;
  }

  /** Steps taken so far (one per entry visited). */
  get steps(): number {
    return this.stepsTaken;
  }

  /** Operations (partition indices) of the best linearization found (see bestStack), in order. */
  bestLinearization(): Int32Array {
    const ops = new Int32Array(this.bestDepth);
    for (let i = 0; i < this.bestDepth; i++) {
      ops[i] = ((this.bestStack[i] as number) - 1) >> 1;
    }
    return ops;
  }

  /**
   * Runs at most `maxSteps` steps; returns the status afterwards. One function on purpose:
   * the walk's state (entry, model state, hash, depth) stays in locals in the hot loop.
   */
  run(maxSteps: number): SearchStatus {
    if (this.statusNow !== 'running') {
      return this.statusNow;
    }
    const { next, bits, zobrist, stackEntry, stackState, stackLow, stackHigh, position, cache } = this;
    const { code, argA, argB, determinate, values } = this.partition;
    let entry = this.cursor;
    let state = this.state;
    let hash = this.hash;
    let depth = this.depth;
    let low = this.low;
    let high = this.high;
    let steps = 0;
    let outcome: SearchStatus = 'running';
    while (steps < maxSteps) {
      steps++;
      if (entry <= HEAD) {
        throw new LincheckInvariantError('the walk ran off the end of the history');
      }
      if ((entry & 1) === 1) {
        const op = (entry - 1) >> 1;
        const nextState = stepModel(code[op] as number, argA[op] as number, argB[op] as number, state, values);
        if (nextState >= 0) {
          const bit = position[op] as number;
          const word = bit >>> 5;
          const mask = 1 << (bit & 31);
          bits[word] = (bits[word] as number) | mask;
          let nextLow = low;
          let nextHigh = high;
          if (determinate[op] === 1) {
            nextLow = bit === low ? firstClear(bits, bit + 1) : low;
            nextHigh = bit >= high ? bit + 1 : high;
          }
          const wordStart = nextLow >>> 5;
          const wordEnd = nextHigh > nextLow ? ((nextHigh - 1) >>> 5) + 1 : wordStart;
          const nextHash = hash ^ (zobrist[op] as number);
          const inserted = cache.insert(bits, nextHash, nextState, nextLow, wordStart, wordEnd);
          if (inserted === CACHE_INSERTED) {
            stackEntry[depth] = entry;
            stackState[depth] = state;
            stackLow[depth] = low;
            stackHigh[depth] = high;
            depth++;
            hash = nextHash;
            state = nextState;
            low = nextLow;
            high = nextHigh;
            this.unlink(entry);
            if (determinate[op] === 1 && --this.remaining === 0) {
              outcome = 'linearizable';
              break;
            }
            if (this.remaining < this.bestRemaining) {
              this.recordBest(depth);
            }
            entry = next[HEAD] as number;
            continue;
          }
          bits[word] = (bits[word] as number) & ~mask;
          if (inserted === CACHE_FULL) {
            outcome = 'out-of-memory';
            break;
          }
        } else if (nextState === OUT_OF_MEMORY) {
          outcome = 'out-of-memory';
          break;
        }
        entry = next[entry] as number;
      } else {
        if (depth === 0) {
          outcome = 'illegal';
          break;
        }
        depth--;
        const call = stackEntry[depth] as number;
        state = stackState[depth] as number;
        low = stackLow[depth] as number;
        high = stackHigh[depth] as number;
        const op = (call - 1) >> 1;
        const bit = position[op] as number;
        bits[bit >>> 5] = (bits[bit >>> 5] as number) & ~(1 << (bit & 31));
        hash ^= zobrist[op] as number;
        this.remaining += determinate[op] as number;
        this.relink(call);
        if (depth < this.agreeDepth) {
          this.agreeDepth = depth;
        }
        entry = next[call] as number;
      }
    }
    this.cursor = entry;
    this.state = state;
    this.hash = hash;
    this.depth = depth;
    this.low = low;
    this.high = high;
    this.stepsTaken += steps;
    if (outcome !== 'running') {
      this.finish(outcome);
    }
    return this.statusNow;
  }

  private finish(outcome: SearchStatus): void {
    if (outcome === 'linearizable') {
      invariant(this.remaining === 0, 'linearizable with operations left to place');
    }
    if (outcome === 'illegal') {
      // Refuted only after undoing every choice: nothing linearized, nothing left unplaced.
      invariant(this.depth === 0 && this.hash === 0 && this.bits.every((word) => word === 0), 'illegal with choices still on the stack');
      invariant(this.low === 0 && this.high === 0, 'illegal with a placed window');
      invariant(this.bestDepth <= this.partition.size, 'best linearization longer than the history');
    }
    this.statusNow = outcome;
    // The cache is the only large structure; give its bytes back to the other partitions.
    this.cache.dispose();
  }

  /** Copies the part of the undo stack that differs from the best one (amortised O(1)). */
  private recordBest(depth: number): void {
    this.bestStack.set(this.stackEntry.subarray(this.agreeDepth, depth), this.agreeDepth);
    this.bestDepth = depth;
    this.bestRemaining = this.remaining;
    this.agreeDepth = depth;
  }

  /** Removes a call entry and its return entry from the list (dancing links). */
  private unlink(call: number): void {
    this.unlinkOne(call);
    this.unlinkOne(call + 1);
  }

  /** Undoes {@link unlink}: the return entry first, then the call, in reverse order. */
  private relink(call: number): void {
    this.relinkOne(call + 1);
    this.relinkOne(call);
  }

  private unlinkOne(entry: number): void {
    const { next, prev } = this;
    const after = next[entry] as number;
    const before = prev[entry] as number;
    next[before] = after;
    if (after !== NIL) {
      prev[after] = before;
    }
  }

  private relinkOne(entry: number): void {
    const { next, prev } = this;
    const after = next[entry] as number;
    next[prev[entry] as number] = entry;
    if (after !== NIL) {
      prev[after] = entry;
    }
  }

  /**
   * Links all entries in time order. At equal times calls come before returns, so
   * operations that touch at an instant count as concurrent (the permissive reading).
   */
  private linkEntries(): void {
    const { callTime, returnTime, size } = this.partition;
    const entries = new Int32Array(2 * size);
    for (let i = 0; i < 2 * size; i++) {
      entries[i] = i + 1;
    }
    const timeOf = (entry: number): number => {
      const op = (entry - 1) >> 1;
      return (entry & 1) === 1 ? (callTime[op] as number) : (returnTime[op] as number);
    };
    entries.sort((x, y) => {
      const byTime = timeOf(x) - timeOf(y);
      if (byTime !== 0 && !Number.isNaN(byTime)) {
        return byTime;
      }
      // Calls (odd) first, then by operation index: deterministic for equal times.
      return (y & 1) - (x & 1) || x - y;
    });
    let before = HEAD;
    for (const entry of entries) {
      this.next[before] = entry;
      this.prev[entry] = before;
      before = entry;
    }
    this.next[before] = NIL;
    for (let op = 0; op < size; op++) {
      invariant((callTime[op] as number) <= (returnTime[op] as number), `operation ${op} returns before its call`);
    }
  }
}

/** Bit positions: determinate operations in call order, then indeterminate ones. */
function assignPositions(partition: Partition): { position: Int32Array; determinateWords: number; indeterminateWords: number } {
  const { size, callTime, determinate } = partition;
  const order = Array.from({ length: size }, (_, op) => op);
  order.sort((x, y) => (callTime[x] as number) - (callTime[y] as number) || x - y);
  let determinateCount = 0;
  for (let op = 0; op < size; op++) {
    determinateCount += determinate[op] as number;
  }
  // One spare bit past the last determinate position, so firstClear always stops in range.
  const determinateWords = (determinateCount >>> 5) + 1;
  const position = new Int32Array(size);
  let nextDeterminate = 0;
  let nextIndeterminate = determinateWords * 32;
  for (const op of order) {
    position[op] = determinate[op] === 1 ? nextDeterminate++ : nextIndeterminate++;
  }
  return { position, determinateWords, indeterminateWords: Math.ceil((size - determinateCount) / 32) };
}

/** The first clear bit at or after `from` (there is always one: the spare bit). */
function firstClear(bits: Uint32Array, from: number): number {
  let word = from >>> 5;
  let clear = ~(bits[word] as number) & (-1 << (from & 31));
  while (clear === 0) {
    word++;
    clear = ~(bits[word] as number);
  }
  return word * 32 + (31 - Math.clz32(clear & -clear));
}
