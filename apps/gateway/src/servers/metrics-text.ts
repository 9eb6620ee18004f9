/** The gateway's counters in Prometheus' text exposition format. */
import type { GatewayStats } from '@keyval/gateway-core';

const HELP: Readonly<Record<string, readonly [type: 'counter' | 'gauge', help: string]>> = {
  calls: ['counter', 'client calls forwarded'],
  attempts: ['counter', 'calls sent to members (first sends and retries)'],
  retries: ['counter', 'calls sent again after a failure'],
  leaderMoveCancels: ['counter', 'attempts cancelled because leadership moved away from their member'],
  indeterminateWrites: ['counter', 'writes answered "may or may not have been applied"'],
  sessionRenewals: ['counter', 'gateway sessions renewed after the state machine refused them'],
  gatewaySessionWrites: ['counter', 'writes sent under one of the gateway\'s own sessions'],
  refusedOverloaded: ['counter', 'calls refused RESOURCE_EXHAUSTED (too many in flight)'],
  leaderChanges: ['counter', 'leader changes the gateway saw'],
  writeBatches: ['counter', 'KVBatch calls sent to members'],
  batchedWrites: ['counter', 'writes sent inside KVBatch calls'],
  inflight: ['gauge', 'client calls in flight'],
  sessions: ['gauge', 'exactly-once sessions the gateway holds'],
  sessionsBusy: ['gauge', 'sessions with a write in flight'],
};

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function formatMetrics(stats: GatewayStats): string {
  const lines: string[] = [];
  for (const [key, [type, help]] of Object.entries(HELP)) {
    const value = (stats as unknown as Record<string, unknown>)[key];
    if (typeof value !== 'number') continue;
    const name = `keyval_gateway_${snake(key)}${type === 'counter' ? '_total' : ''}`;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  }
  lines.push('# HELP keyval_gateway_upstream_inflight calls in flight per member address', '# TYPE keyval_gateway_upstream_inflight gauge');
  for (const [address, count] of Object.entries(stats.upstreamInFlight)) {
    lines.push(`keyval_gateway_upstream_inflight{address="${address}"} ${count}`);
  }
  return `${lines.join('\n')}\n`;
}
