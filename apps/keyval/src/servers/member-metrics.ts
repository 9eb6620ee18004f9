/** A member's state and driver counters in Prometheus' text exposition format. */
import { Role } from '@keyval/raft';
import type { KvMember } from '@keyval/cluster';

const COUNTERS: Readonly<Record<string, string>> = {
  readies: 'Ready batches handled',
  entriesPersisted: 'log entries written to the WAL',
  syncs: 'WAL fsyncs requested',
  entriesApplied: 'entries applied to the state machine',
  applyBatches: 'state-machine apply batches',
  messagesSent: 'Raft messages sent to peers',
  proposals: 'proposals accepted by this member as leader',
  readBarriers: 'linearizable read barriers requested',
};

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function formatMemberMetrics(member: KvMember): string {
  const st = member.status();
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number): void => {
    lines.push(`# HELP keyval_${name} ${help}`, `# TYPE keyval_${name} gauge`, `keyval_${name} ${value}`);
  };
  gauge('is_leader', '1 when this member leads', st.role === Role.Leader ? 1 : 0);
  gauge('has_leader', '1 when this member knows a leader', st.leader === 0n ? 0 : 1);
  gauge('raft_term', 'current Raft term', st.term);
  gauge('raft_commit_index', 'highest committed log index', st.commit);
  gauge('raft_applied_index', 'highest applied log index', st.applied);
  gauge('raft_last_index', 'last log index', st.lastIndex);
  gauge('healthy', '1 when the log store accepts writes', member.health().healthy ? 1 : 0);
  const counters = member.driver.counters as unknown as Record<string, number>;
  for (const [key, help] of Object.entries(COUNTERS)) {
    const name = `keyval_driver_${snake(key)}_total`;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${counters[key] ?? 0}`);
  }
  for (const [key, help] of [['persistMs', 'time spent persisting Ready batches'], ['applyMs', 'time spent applying']] as const) {
    const name = `keyval_driver_${snake(key).replace(/_ms$/, '')}_seconds_total`;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${((counters[key] ?? 0) / 1000).toFixed(3)}`);
  }
  return `${lines.join('\n')}\n`;
}
