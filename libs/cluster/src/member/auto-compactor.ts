/**
 * Automatic compaction, as etcd 3.4's `--auto-compaction-mode` and
 * `--auto-compaction-retention`. It runs on every member and acts only while the member
 * leads (etcd pauses its compactor on followers); the compaction itself goes through the log.
 *
 * - periodic, retention P: every min(P, 1 h)/10 it notes the current revision; once P has
 *   passed since the start (then every min(P, 1 h) since the last success) it compacts at the
 *   revision noted about P ago — the history kept covers the last P.
 * - revision, retention N: every 5 minutes it compacts at (current revision − N), unless that
 *   is not positive or is what it compacted last.
 *
 * A compaction that fails as already compacted counts as done; any other failure is retried
 * at the next interval.
 */
import { CompactedError } from '@keyval/statemachine';
import type { Clock } from '../driver/clock';
import type { DriverLogger } from '../driver/raft-driver';

export type AutoCompactionMode = 'periodic' | 'revision';

export interface AutoCompactionOptions {
  readonly mode: AutoCompactionMode;
  /** periodic: milliseconds of history to keep; revision: revisions to keep. Positive. */
  readonly retention: number;
}

export interface AutoCompactorTarget {
  /** The store revision now. */
  revision(): number;
  isLeader(): boolean;
  /** Proposes a compaction at `revision`; resolves when applied. Rejects with CompactedError when at or below the compacted revision. */
  compact(revision: number): Promise<void>;
}

const HOUR_MS = 60 * 60 * 1000;
/** etcd's revision-mode interval. */
export const REVISION_COMPACTION_INTERVAL_MS = 5 * 60 * 1000;
const RETRY_DIVISOR = 10;

export class CompactionRetentionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CompactionRetentionError';
  }
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: HOUR_MS };

/**
 * etcd's retention flag: a plain integer is hours (periodic) or revisions (revision); anything
 * else must be a Go duration ("90m", "1h30m", "2.5h", "30s"), periodic only in effect. 0 means
 * off (undefined). Throws CompactionRetentionError.
 */
export function parseCompactionRetention(mode: AutoCompactionMode, text: string): number | undefined {
  const trimmed = text.trim();
  let value: number;
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    value = mode === 'revision' ? n : n * HOUR_MS;
  } else {
    value = parseGoDuration(trimmed);
    if (mode === 'revision') {
      throw new CompactionRetentionError(`--auto-compaction-retention ${JSON.stringify(text)}: the revision mode takes a number of revisions`);
    }
  }
  if (!Number.isSafeInteger(Math.round(value)) || value < 0) {
    throw new CompactionRetentionError(`--auto-compaction-retention ${JSON.stringify(text)} is out of range`);
  }
  return value === 0 ? undefined : Math.round(value);
}

/** Milliseconds of a Go duration ("90m", "1h30m", "2.5s", "500ms"). Throws CompactionRetentionError. */
export function parseGoDuration(text: string): number {
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const match = part.exec(text);
    if (match === null) {
      throw new CompactionRetentionError(`--auto-compaction-retention ${JSON.stringify(text)} is neither a number nor a duration such as 90m or 1h30m`);
    }
    total += Number(match[1]) * (DURATION_UNITS_MS[match[2] as string] as number);
    at = part.lastIndex;
  }
  if (text.length === 0) {
    throw new CompactionRetentionError('--auto-compaction-retention is empty');
  }
  return total;
}

export class AutoCompactor {
  private timer: { cancel(): void } | undefined;
  private stopped = false;
  /** Revisions noted every retry interval, oldest first (periodic). */
  private revisions: number[] = [];
  private lastSuccessMs = 0;
  private baseIntervalMs = 0;
  /** The revision compacted last (revision mode). */
  private previous = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly options: AutoCompactionOptions,
    private readonly target: AutoCompactorTarget,
    private readonly clock: Clock,
    private readonly logger?: DriverLogger,
  ) {
    if (!Number.isSafeInteger(options.retention) || options.retention <= 0) {
      throw new RangeError(`auto-compaction retention must be positive, got ${options.retention}`);
    }
  }

  /** How often it wakes up, ms. */
  get intervalMs(): number {
    return this.options.mode === 'revision' ? REVISION_COMPACTION_INTERVAL_MS : Math.min(this.options.retention, HOUR_MS) / RETRY_DIVISOR;
  }

  start(): void {
    this.lastSuccessMs = this.clock.nowMs();
    this.baseIntervalMs = this.options.retention;
    this.schedule();
  }

  /** Stops waking up; a compaction in flight finishes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }

  private schedule(): void {
    if (this.options.mode === 'periodic') {
      this.note();
    }
    this.timer = this.clock.setTimeout(() => {
      this.running = this.wake().finally(() => {
        this.running = undefined;
        if (!this.stopped) {
          this.schedule();
        }
      });
    }, this.intervalMs);
  }

  /** Periodic: remembers the revision now; the oldest kept is the one from a retention ago. */
  private note(): void {
    this.revisions.push(this.target.revision());
    const kept = Math.floor(this.options.retention / this.intervalMs) + 1;
    if (this.revisions.length > kept) {
      this.revisions.shift();
    }
  }

  private async wake(): Promise<void> {
    if (this.stopped || !this.target.isLeader()) {
      return;
    }
    if (this.options.mode === 'revision') {
      const revision = this.target.revision() - this.options.retention;
      if (revision > 0 && revision !== this.previous && (await this.compact(revision))) {
        this.previous = revision;
      }
      return;
    }
    if (this.clock.nowMs() - this.lastSuccessMs < this.baseIntervalMs) {
      return;
    }
    this.baseIntervalMs = Math.min(this.options.retention, HOUR_MS);
    const revision = this.revisions[0] as number;
    if (await this.compact(revision)) {
      this.lastSuccessMs = this.clock.nowMs();
    }
  }

  /** True when the history is compacted at `revision` (now or before). */
  private async compact(revision: number): Promise<boolean> {
    try {
      await this.target.compact(revision);
      this.logger?.info('auto-compaction done', { mode: this.options.mode, revision });
      return true;
    } catch (error) {
      if (error instanceof CompactedError) {
        return true;
      }
      this.logger?.warn('auto-compaction failed; will retry', { mode: this.options.mode, revision, error: String(error) });
      return false;
    }
  }
}
