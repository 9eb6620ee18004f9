/**
 * Aggregates seed results into the run summary: violations, operation and fault counts, and
 * the distributions of election times (p50/p99/max in ticks and ms). Only deterministic
 * figures go into `formatSummary`; wall-clock timing is printed separately by the CLI.
 */
import type { SeedResult, ViolationReport } from './run-seed';

export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentiles of a list of values (ms). */
export function distribution(values: readonly number[]): Distribution | undefined {
  if (values.length === 0) {
    return undefined;
  }
  const sorted = values.slice().sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
  return { count: sorted.length, p50: rank(50), p99: rank(99), max: sorted[sorted.length - 1] as number };
}

export class RunSummary {
  seeds = 0;
  readonly violations: { seed: number; schedule: string; members: number; profile: string; report: ViolationReport }[] = [];
  readonly firstLeaderMs: number[] = [];
  readonly reelectionMs: number[] = [];
  readonly faultyReelectionMs: number[] = [];
  readonly recoveryMs: number[] = [];
  readonly ownTermCommitMs: number[] = [];
  readonly memberCounts = new Map<number, number>();
  readonly ops = { ok: 0, fail: 0, info: 0 };
  readonly lincheck = { linearizable: 0, 'not-linearizable': 0, unknown: 0, skipped: 0 };
  readonly counters = new Map<string, number>();
  /** Scenario name → [runs, runs whose trap was sprung]. */
  readonly scenarios = new Map<string, [number, number]>();
  lost = 0;
  simulatedMs = 0;
  events = 0;
  noFirstLeader = 0;

  add(result: SeedResult): void {
    this.seeds++;
    this.memberCounts.set(result.members, (this.memberCounts.get(result.members) ?? 0) + 1);
    if (result.violation !== undefined) {
      this.violations.push({ seed: result.seed, schedule: result.schedule, members: result.members, profile: result.profile, report: result.violation });
    }
    if (result.firstLeaderMs === undefined) {
      this.noFirstLeader++;
    } else {
      this.firstLeaderMs.push(result.firstLeaderMs);
    }
    if (result.reelectionMs !== undefined) {
      this.reelectionMs.push(result.reelectionMs);
    }
    this.faultyReelectionMs.push(...result.faultyReelectionMs);
    if (result.recoveryMs !== undefined) {
      this.recoveryMs.push(result.recoveryMs);
    }
    if (result.ownTermCommitMs !== undefined) {
      this.ownTermCommitMs.push(result.ownTermCommitMs);
    }
    this.ops.ok += result.ops.ok;
    this.ops.fail += result.ops.fail;
    this.ops.info += result.ops.info;
    this.lincheck[result.lincheck]++;
    this.lost += result.lost;
    this.simulatedMs += result.simulatedMs;
    this.events += result.events;
    if (result.schedule !== 'random') {
      const [runs, sprung] = this.scenarios.get(result.schedule) ?? [0, 0];
      this.scenarios.set(result.schedule, [runs + 1, sprung + (result.counters.scenarioTraps > 0 ? 1 : 0)]);
    }
    for (const [name, value] of Object.entries(result.counters)) {
      this.counters.set(name, (this.counters.get(name) ?? 0) + value);
    }
  }
}

export function formatDistribution(name: string, d: Distribution | undefined, tickMs: number, targetMs?: number): string {
  if (d === undefined) {
    return `${name}: no samples`;
  }
  const fmt = (ms: number): string => `${Math.round(ms / tickMs)} ticks (${ms} ms)`;
  const target = targetMs === undefined ? '' : `; target <= ${targetMs} ms`;
  return `${name} (n=${d.count}): p50 ${fmt(d.p50)}, p99 ${fmt(d.p99)}, max ${fmt(d.max)}${target}`;
}

/** The deterministic part of the summary, one fact per line. */
export function formatSummary(s: RunSummary, tickMs: number): string[] {
  const over = (values: readonly number[], limit: number): number => values.filter((v) => v > limit).length;
  const members = [...s.memberCounts.entries()].sort((a, b) => a[0] - b[0]).map(([n, c]) => `${n} members x${c}`).join(', ');
  const counters = [...s.counters.entries()].map(([k, v]) => `${k}=${v}`).join(' ');
  const scenarios = [...s.scenarios.entries()].map(([name, [runs, sprung]]) => `${name} ${sprung}/${runs}`).join(', ');
  return [
    ...(scenarios === '' ? [] : [`scenario runs that sprang their trap: ${scenarios}`]),
    `clusters: ${members}; simulated ${(s.simulatedMs / 1000).toFixed(0)} s, ${s.events} events`,
    `client ops: ok=${s.ops.ok} fail=${s.ops.fail} info=${s.ops.info}; lincheck: linearizable=${s.lincheck.linearizable} not-linearizable=${s.lincheck['not-linearizable']} unknown=${s.lincheck.unknown} skipped=${s.lincheck.skipped}; lost=${s.lost}`,
    `faults: ${counters}`,
    formatDistribution('time to first leader', distribution(s.firstLeaderMs), tickMs, 1000) + `; over target: ${over(s.firstLeaderMs, 1000)}, none: ${s.noFirstLeader}`,
    formatDistribution('re-election after leader crash (liveness probe, no other faults)', distribution(s.reelectionMs), tickMs, 2000) + `; over target: ${over(s.reelectionMs, 2000)}`,
    formatDistribution('re-election after leader crash (safety phase, other faults active)', distribution(s.faultyReelectionMs), tickMs),
    formatDistribution('leader after healing (liveness phase)', distribution(s.recoveryMs), tickMs),
    formatDistribution('new leader commits an entry of its term (liveness probe, read-only clients)', distribution(s.ownTermCommitMs), tickMs),
  ];
}
