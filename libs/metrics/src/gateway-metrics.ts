/**
 * The gateway's metrics (`keyval_gateway_*`): requests by route kind, retries by reason,
 * write batches and their sizes, and per-member upstream latency arrive through the
 * GatewayObserver hooks; what the gateway counts anyway (calls, attempts, leader changes,
 * sessions, calls in flight, indeterminate writes) is read from `Gateway.stats()` when
 * scraped, once `attach(gateway)` has been called. Its gRPC server's `grpc_server_*` come from
 * GrpcServerMetrics, as on a member.
 */
import type { Gateway, GatewayObserver, GatewayStats, RetryReason, RouteKind, UpstreamObserver } from '@keyval/gateway-core';
import type { Registry } from 'prom-client';
import { BATCH_SIZE_BUCKETS, LATENCY_BUCKETS } from './buckets';
import type { CounterCell, HistogramCell } from './cells';
import { CounterFamily, counterFamilyOf, gaugeFamily, HistogramFamily } from './families';

const ROUTE_KINDS: readonly RouteKind[] = ['write', 'read', 'idempotent', 'once'];
const RETRY_REASONS: readonly RetryReason[] = ['not-applied', 'maybe-applied', 'session-refused'];

/** Counters the gateway keeps in its stats, exported as they are. */
const STAT_COUNTERS: readonly (readonly [keyof GatewayStats, string, string])[] = [
  ['attempts', 'keyval_gateway_attempts_total', 'Calls sent to members: first sends and retries.'],
  ['leaderChanges', 'keyval_gateway_leader_changes_seen_total', 'Leader changes the gateway saw.'],
  ['leaderMoveCancels', 'keyval_gateway_leader_move_cancels_total', 'Attempts cancelled because leadership moved away from their member.'],
  ['indeterminateWrites', 'keyval_gateway_indeterminate_writes_total', 'Writes answered "may or may not have been applied" (their deadline ended after an attempt that may have applied).'],
  ['sessionRenewals', 'keyval_gateway_session_renewals_total', "Gateway sessions renewed after the state machine refused them."],
  ['gatewaySessionWrites', 'keyval_gateway_session_writes_total', "Writes sent under one of the gateway's own exactly-once sessions (the client brought none)."],
  ['refusedOverloaded', 'keyval_gateway_refused_overloaded_total', 'Calls refused RESOURCE_EXHAUSTED because too many were in flight.'],
];

/** Gauges the gateway keeps in its stats. */
const STAT_GAUGES: readonly (readonly [keyof GatewayStats, string, string])[] = [
  ['inflight', 'keyval_gateway_inflight', 'Client calls in flight.'],
  ['sessions', 'keyval_gateway_sessions', "Exactly-once sessions the gateway holds."],
  ['sessionsBusy', 'keyval_gateway_sessions_busy', 'Gateway sessions with a write in flight.'],
];

export class GatewayMetrics implements GatewayObserver {
  private gateway: Gateway | undefined;
  private readonly requests: Readonly<Record<string, CounterCell>>;
  private readonly retries: Readonly<Record<string, CounterCell>>;
  private readonly batches: CounterCell;
  private readonly batchSize: HistogramCell;
  private readonly upstreamDuration: HistogramFamily<'member'>;

  constructor(private readonly registry: Registry) {
    const requests = new CounterFamily(registry, { name: 'keyval_gateway_requests_total', help: 'Client calls admitted, by route kind (write, read, idempotent, once).', labelNames: ['kind'] });
    this.requests = Object.fromEntries(ROUTE_KINDS.map((kind) => [kind, requests.cell({ kind })]));
    const retries = new CounterFamily(registry, {
      name: 'keyval_gateway_retries_total',
      help: 'Calls sent again, by the reason of the failure before (not-applied, maybe-applied, session-refused).',
      labelNames: ['reason'],
    });
    this.retries = Object.fromEntries(RETRY_REASONS.map((reason) => [reason, retries.cell({ reason })]));
    this.batches = new CounterFamily(registry, { name: 'keyval_gateway_write_batches_total', help: 'KVBatch calls sent to members (several writes each).' }).cell({});
    this.batchSize = new HistogramFamily(registry, { name: 'keyval_gateway_write_batch_size', help: 'Writes per KVBatch call.', buckets: BATCH_SIZE_BUCKETS }).cell({});
    this.upstreamDuration = new HistogramFamily(registry, {
      name: 'keyval_gateway_upstream_duration_seconds',
      help: 'Time from sending an attempt to a member to its end (answer, failure or cancellation), per member address.',
      labelNames: ['member'],
      buckets: LATENCY_BUCKETS,
    });
    this.statFamilies();
  }

  /** Starts reading the gateway's stats at each scrape. */
  attach(gateway: Gateway): void {
    this.gateway = gateway;
  }

  request(kind: RouteKind): void {
    this.requests[kind]?.inc();
  }

  retry(reason: RetryReason): void {
    this.retries[reason]?.inc();
  }

  batchSent(writes: number): void {
    this.batches.inc();
    this.batchSize.observe(writes);
  }

  upstream(authority: string): UpstreamObserver {
    const cell = this.upstreamDuration.cell({ member: authority });
    return { answered: (elapsedMs) => cell.observeMs(elapsedMs) };
  }

  private statFamilies(): void {
    const r = this.registry;
    const stat = (key: keyof GatewayStats): (() => [[Record<string, never>, number]] | []) => () => {
      const value = this.gateway?.stats()[key];
      return typeof value === 'number' ? [[{}, value]] : [];
    };
    for (const [key, name, help] of STAT_COUNTERS) {
      counterFamilyOf(r, { name, help }, stat(key));
    }
    for (const [key, name, help] of STAT_GAUGES) {
      gaugeFamily(r, { name, help }, stat(key));
    }
    gaugeFamily(r, { name: 'keyval_gateway_has_leader', help: 'Whether the gateway knows a leader to send writes to. 1 if it does, 0 otherwise.' }, () => [[{}, this.gateway?.directory.leader() === undefined ? 0 : 1]]);
    gaugeFamily(r, { name: 'keyval_gateway_upstream_inflight', help: 'Calls in flight to each member address.', labelNames: ['member'] }, () =>
      Object.entries(this.gateway?.stats().upstreamInFlight ?? {}).map(([member, count]) => [{ member }, count] as const),
    );
  }
}
