/**
 * The checker's entry point: validate, partition by key, and run the partitions' searches
 * interleaved in round-robin slices of steps (smallest partition first), stopping at the
 * first illegal one. Interleaving is what makes a history with one quickly refutable key
 * fast even when other keys would take minutes. Synchronous and, without a wall-clock
 * limit, deterministic: the same operations and options give the same result and steps.
 */
import { type Counterexample, buildCounterexample } from './counterexample';
import type { ModelKind, Operation, Value, Verdict } from './history';
import { InvalidOptionError } from './lincheck.error';
import { type Partition, partitionOperations } from './partition';
import { PartitionSearch } from './search';
import { MemoryBudget } from './state-cache';
import { validateOperations } from './validate';

/** Options of {@link checkHistory}. Every limit turns into the verdict `unknown`. */
export interface CheckOptions {
  /** `kv` (default): per-key map. `register`: one register, keys ignored. */
  readonly model?: ModelKind;
  /** The value of every key before the history; default `null` (absent). */
  readonly initialValue?: Value;
  /** Wall-clock limit for the whole check, in ms; default 10 000. `Infinity` for none. */
  readonly timeoutMs?: number;
  /**
   * Deterministic limit: total search steps over all keys; default `Infinity`. Use it (with
   * `timeoutMs: Infinity`) where results must replay exactly, as in the simulation.
   */
  readonly maxSteps?: number;
  /**
   * Memory limit for what the search builds (caches, values created by appends) over the
   * whole check, in bytes; default 512 MiB. The input itself is not counted.
   */
  readonly maxCacheBytes?: number;
}

/** Why a check ended `unknown`. */
export type UnknownReason = 'timeout' | 'step-limit' | 'memory-limit';

/** The outcome for one key (or the single register). */
export interface KeyResult {
  /** The key, or `null` for the register model. */
  readonly key: string | null;
  /** Operations checked for this key (failed ops and indeterminate reads are not). */
  readonly opCount: number;
  /** `unknown` also when the check stopped before this key finished. */
  readonly verdict: Verdict;
  readonly steps: number;
}

/** The outcome of {@link checkHistory}. */
export interface CheckResult {
  readonly verdict: Verdict;
  /** Set when `verdict` is `unknown`. */
  readonly unknownReason?: UnknownReason;
  /** Set when `verdict` is `not-linearizable`: why, for the first illegal key. */
  readonly counterexample?: Counterexample;
  /** One entry per key, smallest first. */
  readonly perKey: readonly KeyResult[];
  /** Search steps over all keys: deterministic for a given input and options. */
  readonly steps: number;
  /** Wall time the check took, in ms (not deterministic). */
  readonly elapsedMs: number;
}

/** Default {@link CheckOptions.timeoutMs}. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default {@link CheckOptions.maxCacheBytes}. */
export const DEFAULT_MAX_CACHE_BYTES = 512 * 1024 * 1024;
/** Steps a partition runs before the scheduler moves to the next one. */
const SLICE_STEPS = 2_000;

/**
 * Checks whether `ops` is linearizable with respect to the key-value model.
 * @throws InvalidHistoryError when an operation breaks the `Operation` contract
 * @throws InvalidOptionError when an option is out of range
 */
export function checkHistory(ops: readonly Operation[], options: CheckOptions = {}): CheckResult {
  const startMs = performance.now();
  const limits = readOptions(options);
  validateOperations(ops);
  const budget = new MemoryBudget(limits.maxCacheBytes);
  const partitions = partitionOperations(ops, limits.model, limits.initialValue, budget);
  const searches = partitions.map((partition) => new PartitionSearch(partition, budget));
  const deadlineMs = startMs + limits.timeoutMs;
  let steps = 0;
  let unknownReason: UnknownReason | undefined;
  let failed: PartitionSearch | undefined;
  let active = searches.filter((search) => search.status === 'running');
  while (active.length > 0 && failed === undefined && unknownReason === undefined) {
    for (const search of active) {
      const slice = Math.min(SLICE_STEPS, limits.maxSteps - steps);
      if (slice <= 0) {
        unknownReason = 'step-limit';
        break;
      }
      const before = search.steps;
      const status = search.run(slice);
      steps += search.steps - before;
      if (status === 'illegal') {
        failed = search;
        break;
      }
      if (status === 'out-of-memory') {
        unknownReason = 'memory-limit';
        break;
      }
      if (performance.now() > deadlineMs) {
        unknownReason = 'timeout';
        break;
      }
    }
    active = active.filter((search) => search.status === 'running');
  }
  const perKey = searches.map(keyResult);
  const elapsedMs = performance.now() - startMs;
  if (failed !== undefined) {
    const counterexample = buildCounterexample(failed.partition, failed.bestLinearization(), ops);
    return { verdict: 'not-linearizable', counterexample, perKey, steps, elapsedMs };
  }
  if (unknownReason !== undefined) {
    return { verdict: 'unknown', unknownReason, perKey, steps, elapsedMs };
  }
  return { verdict: 'linearizable', perKey, steps, elapsedMs };
}

function keyResult(search: PartitionSearch): KeyResult {
  const partition: Partition = search.partition;
  const verdict: Verdict =
    search.status === 'linearizable' ? 'linearizable' : search.status === 'illegal' ? 'not-linearizable' : 'unknown';
  return { key: partition.key, opCount: partition.size, verdict, steps: search.steps };
}

interface Limits {
  readonly model: ModelKind;
  readonly initialValue: Value;
  readonly timeoutMs: number;
  readonly maxSteps: number;
  readonly maxCacheBytes: number;
}

function readOptions(options: CheckOptions): Limits {
  const model = options.model ?? 'kv';
  if (model !== 'kv' && model !== 'register') {
    throw new InvalidOptionError('model', `must be kv or register, got ${String(model)}`);
  }
  const initialValue = options.initialValue ?? null;
  if (initialValue !== null && typeof initialValue !== 'string') {
    throw new InvalidOptionError('initialValue', 'must be a string or null');
  }
  const limits: Limits = {
    model,
    initialValue,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxSteps: options.maxSteps ?? Number.POSITIVE_INFINITY,
    maxCacheBytes: options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES,
  };
  for (const name of ['timeoutMs', 'maxSteps', 'maxCacheBytes'] as const) {
    const value = limits[name];
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
      throw new InvalidOptionError(name, `must be a positive number, got ${String(value)}`);
    }
  }
  if (limits.maxSteps !== Number.POSITIVE_INFINITY && !Number.isSafeInteger(limits.maxSteps)) {
    throw new InvalidOptionError('maxSteps', `must be a whole number or Infinity, got ${limits.maxSteps}`);
  }
  return limits;
}
