/**
 * A compare-and-swap counter load for the exactly-once tests: workers read a counter and
 * increment it with a txn (if value == n then put n + 1), through one KV client (the gateway).
 * Every outcome is counted per counter:
 *
 *     txn answered, succeeded ─► acknowledged increment
 *     txn answered, not succeeded ─► lost the race (another worker incremented first)
 *     DEADLINE_EXCEEDED ─► indeterminate (may or may not have applied)
 *     UNAVAILABLE "etcdserver: ..." ─► the gateway said it was not applied
 *     anything else ─► unclear (the test expects none)
 *
 * so that, afterwards, acknowledged ≤ final value ≤ acknowledged + indeterminate must hold for
 * every counter: a write applied twice, or applied without being reported, breaks it. A blind
 * retry of an applied increment would come back "not succeeded" (the value moved on), so an
 * exactly-once failure shows as final > acknowledged + indeterminate.
 *
 * Half the workers send no session (the gateway adds its own), half send their own client id
 * and sequence numbers (the gateway must pass them through and retry with them).
 */
import { GrpcStatus, GrpcStatusError, statusName } from '@keyval/grpc';
import type { ServiceClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';

export interface CasLoadOptions {
  readonly kv: ServiceClient<typeof etcd.KVDefinition>;
  readonly prefix: string;
  /** Counters (1..64). */
  readonly counters: number;
  /** Concurrent workers (1..64). */
  readonly workers: number;
  /** Deadline of each call, ms. */
  readonly timeoutMs: number;
}

/** A call answered this much after its deadline counts as late (a loaded machine delays timers a little). */
const LATE_SLACK_MS = 1_000;
/** Most outcomes recorded (a limit on everything: the load stops beyond it). */
const OPS_MAX = 500_000;

export class CasCounterLoad {
  readonly acknowledged: number[];
  readonly indeterminate: number[];
  /** When each acknowledgement arrived (performance.now()). */
  readonly ackTimes: number[] = [];
  raceLost = 0;
  notApplied = 0;
  readErrors = 0;
  /** Calls answered more than LATE_SLACK_MS after their deadline (the gateway must answer in time). */
  late = 0;
  /** Slowest call, ms. */
  slowestMs = 0;
  /** Failures by "CODE: message start", for the report. */
  readonly failures = new Map<string, number>();
  /** Failures that are neither "not applied" nor "may or may not have applied". */
  readonly unclear: string[] = [];
  private stopped = false;
  private running: Promise<void>[] = [];
  private ops = 0;
  private readonly clientTag = `cas-${process.pid}-${Date.now().toString(36)}`;

  constructor(private readonly options: CasLoadOptions) {
    if (options.counters < 1 || options.counters > 64 || options.workers < 1 || options.workers > 64) {
      throw new RangeError('CasCounterLoad: 1..64 counters and workers');
    }
    this.acknowledged = new Array<number>(options.counters).fill(0);
    this.indeterminate = new Array<number>(options.counters).fill(0);
  }

  key(counter: number): Buffer {
    return Buffer.from(`${this.options.prefix}/${counter}`);
  }

  /** Sets every counter to 0 (before start). */
  async reset(): Promise<void> {
    for (let c = 0; c < this.options.counters; c++) {
      await this.options.kv.put(etcd.PutRequest.fromPartial({ key: this.key(c), value: Buffer.from('0') }), { timeoutMs: 10_000 });
    }
  }

  start(): void {
    this.running = Array.from({ length: this.options.workers }, (_, w) => this.worker(w));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  get ackCount(): number {
    return this.ackTimes.length;
  }

  /** Acknowledgements that arrived after `sinceMs`. */
  acksAfter(sinceMs: number): number {
    return this.ackTimes.filter((t) => t > sinceMs).length;
  }

  /** Time from `sinceMs` to the first acknowledgement after it, ms (undefined: none yet). */
  firstAckAfter(sinceMs: number): number | undefined {
    const first = this.ackTimes.find((t) => t > sinceMs);
    return first === undefined ? undefined : Math.round(first - sinceMs);
  }

  /** The longest time without an acknowledgement after `fromMs`, ms. */
  longestGapAfter(fromMs: number): number {
    let gap = 0;
    let prev = fromMs;
    for (const t of this.ackTimes.filter((x) => x >= fromMs).sort((a, b) => a - b)) {
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    return Math.round(gap);
  }

  describeFailures(): string {
    return [...this.failures].map(([k, n]) => `${k} ×${n}`).join('; ') || 'none';
  }

  private async worker(w: number): Promise<void> {
    const ownSession = w % 2 === 1;
    const clientId = `${this.clientTag}-${w}`;
    let seq = 0;
    for (let i = 0; !this.stopped && this.ops < OPS_MAX; i++) {
      this.ops += 1;
      const counter = (w + i) % this.options.counters;
      let current: number;
      try {
        const read = await this.options.kv.range(etcd.RangeRequest.fromPartial({ key: this.key(counter) }), { timeoutMs: this.options.timeoutMs });
        current = Number(read.kvs[0]?.value.toString() ?? 'NaN');
      } catch {
        this.readErrors += 1;
        await pause(10);
        continue;
      }
      const metadata = ownSession ? { 'keyval-client-id': clientId, 'keyval-seq': String(++seq) } : undefined;
      await this.increment(counter, current, metadata);
    }
  }

  private async increment(counter: number, current: number, metadata: Record<string, string> | undefined): Promise<void> {
    const request = etcd.TxnRequest.fromPartial({
      compare: [{ key: this.key(counter), result: etcd.Compare_CompareResult.EQUAL, target: etcd.Compare_CompareTarget.VALUE, targetUnion: { $case: 'value', value: Buffer.from(String(current)) } }],
      success: [{ request: { $case: 'requestPut', value: { key: this.key(counter), value: Buffer.from(String(current + 1)) } } }],
    });
    const started = performance.now();
    try {
      const response = await this.options.kv.txn(request, { timeoutMs: this.options.timeoutMs, metadata });
      if (response.succeeded) {
        this.acknowledged[counter] = (this.acknowledged[counter] ?? 0) + 1;
        this.ackTimes.push(performance.now());
      } else {
        this.raceLost += 1;
      }
    } catch (error) {
      this.classify(counter, error);
      await pause(10);
    } finally {
      const took = performance.now() - started;
      this.slowestMs = Math.max(this.slowestMs, Math.round(took));
      if (took > this.options.timeoutMs + LATE_SLACK_MS) this.late += 1;
    }
  }

  private classify(counter: number, error: unknown): void {
    const code = error instanceof GrpcStatusError ? error.code : undefined;
    const label = error instanceof GrpcStatusError ? `${statusName(error.code)}: ${error.details.slice(0, 60)}` : String(error);
    this.failures.set(label, (this.failures.get(label) ?? 0) + 1);
    if (code === GrpcStatus.DEADLINE_EXCEEDED) {
      this.indeterminate[counter] = (this.indeterminate[counter] ?? 0) + 1;
    } else if (code === GrpcStatus.UNAVAILABLE && /^etcdserver: /.test((error as GrpcStatusError).details)) {
      this.notApplied += 1;
    } else {
      this.indeterminate[counter] = (this.indeterminate[counter] ?? 0) + 1;
      if (this.unclear.length < 20) this.unclear.push(label);
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
