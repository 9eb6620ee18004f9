/**
 * A write load for failover tests: several concurrent writers, each putting fresh unique
 * keys (`<prefix>/w<writer>/<n>`) through the lean gRPC client, moving to the next member
 * when a call fails. It records every acknowledged write (the contract: each must be
 * readable afterwards) and when acknowledgements happened, to measure failover.
 *
 *     writer i: put(prefix/wi/n) ─ ok ─▶ acknowledged[key] = value, acks.push(time)
 *                                 └ error ─▶ errors[code]++, next member, short pause
 */
import { CLIENT_ID_KEY, SEQUENCE_KEY } from '@keyval/api';
import { GrpcStatusError, statusName } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import type { TestMember } from './member-process';
import { bytes } from './kv-helpers';
import { sleep } from './wait-for';

export interface WriteLoadOptions {
  /** Concurrent writers (1..64). */
  readonly writers: number;
  /** Key prefix; keys are `<prefix>/w<writer>/<n>`. */
  readonly prefix: string;
  /** Members the writers send to (writer i starts at member i mod N, and moves on after an error). */
  readonly members: readonly TestMember[];
  /** Deadline of each put, ms (default 1000). */
  readonly putTimeoutMs?: number;
  /** Pause after a failed put, ms (default 10). */
  readonly pauseAfterErrorMs?: number;
  /**
   * Exactly-once mode: each writer is a client session (`keyval-client-id`, `keyval-seq`)
   * and retries a failed put — same key, value and sequence number — on the next member
   * until it is acknowledged, as kvctl and the gateway do. Every key must then be applied once.
   */
  readonly sessions?: boolean;
}

/** One acknowledged write: when it was sent and when its answer came (performance.now()). */
export interface Ack {
  readonly key: string;
  readonly sentAtMs: number;
  readonly ackedAtMs: number;
}

/** Most writers one load may run. */
const WRITERS_MAX = 64;
/** Most acknowledged writes recorded (a limit on everything; the load stops beyond it). */
const ACKS_MAX = 200_000;

export class WriteLoad {
  /** key → value of every acknowledged put. */
  readonly acknowledged = new Map<string, string>();
  readonly acks: Ack[] = [];
  /** Failed puts by gRPC code name (a failed put may or may not have been applied). */
  readonly errors = new Map<string, number>();
  /** A few failure messages, for the test's report. */
  readonly sampleErrors: string[] = [];
  /** Puts sent again after a failure (exactly-once mode only). */
  retries = 0;
  private stopped = false;
  private running: Promise<void>[] = [];

  constructor(private readonly options: WriteLoadOptions) {
    if (!Number.isInteger(options.writers) || options.writers < 1 || options.writers > WRITERS_MAX) {
      throw new RangeError(`WriteLoad: writers must be 1..${WRITERS_MAX}, got ${options.writers}`);
    }
    if (options.members.length === 0) {
      throw new RangeError('WriteLoad: no members to write to');
    }
  }

  /** Starts the writers; they run until stop(). */
  start(): void {
    this.running = Array.from({ length: this.options.writers }, (_, i) => this.writer(i));
  }

  /** Stops the writers and waits for their calls in flight to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  /** Acknowledged writes so far. */
  get ackCount(): number {
    return this.acks.length;
  }

  /** The first acknowledgement of a write sent at or after `sinceMs`, or undefined. */
  firstAckSentAfter(sinceMs: number): Ack | undefined {
    let first: Ack | undefined;
    for (const a of this.acks) {
      if (a.sentAtMs >= sinceMs && (first === undefined || a.ackedAtMs < first.ackedAtMs)) {
        first = a;
      }
    }
    return first;
  }

  /** The longest time without any acknowledgement between `fromMs` and the last ack. */
  longestGapAfter(fromMs: number): number {
    const times = this.acks.map((a) => a.ackedAtMs).filter((t) => t >= fromMs).sort((a, b) => a - b);
    let gap = 0;
    let prev = fromMs;
    for (const t of times) {
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    return Math.round(gap);
  }

  /** "UNAVAILABLE×3, DEADLINE_EXCEEDED×1" */
  describeErrors(): string {
    return [...this.errors].map(([code, n]) => `${code}×${n}`).join(', ') || 'none';
  }

  private async writer(index: number): Promise<void> {
    const members = this.options.members;
    const clientId = `${this.options.prefix}-w${index}-${process.pid}-${Math.floor(performance.now())}`;
    let target = index % members.length;
    let n = 0;
    while (!this.stopped && this.acks.length < ACKS_MAX) {
      const key = `${this.options.prefix}/w${index}/${n}`;
      const value = `v${n}-${index}`;
      const member = members[target] as TestMember;
      const sentAtMs = performance.now();
      const metadata = this.options.sessions === true ? { [CLIENT_ID_KEY]: clientId, [SEQUENCE_KEY]: String(n + 1) } : undefined;
      try {
        await member.kv().put(etcd.PutRequest.fromPartial({ key: bytes(key), value: bytes(value) }), { timeoutMs: this.options.putTimeoutMs ?? 1_000, metadata });
        this.acknowledged.set(key, value);
        this.acks.push({ key, sentAtMs, ackedAtMs: performance.now() });
        n++;
      } catch (error) {
        // Without a session a failed put is abandoned (it may or may not have applied); with
        // one, the same put is sent again: the session makes the retry safe.
        if (this.options.sessions === true) {
          this.retries++;
        } else {
          n++;
        }
        const code = error instanceof GrpcStatusError ? statusName(error.code) : 'NOT_GRPC';
        this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
        if (this.sampleErrors.length < 8) {
          this.sampleErrors.push(`${member.name}: ${code}: ${error instanceof Error ? error.message : String(error)}`);
        }
        target = (target + 1) % members.length;
        await sleep(this.options.pauseAfterErrorMs ?? 10);
      }
    }
  }
}
