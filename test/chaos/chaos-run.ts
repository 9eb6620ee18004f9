/**
 * One chaos run, start to finish:
 *
 *   lock ─▶ remove leftovers ─▶ network (guard route first) ─▶ members, proxies, agent
 *     ─▶ healthy? ─▶ workload + fault timeline for --time ─▶ heal everything ─▶ healthy again?
 *     ─▶ stop clients, final read ─▶ lincheck ─▶ report folder ─▶ teardown (always) ─▶ unlock
 *
 * Teardown runs whatever happened before it (errors, signals): the CLI calls `runChaos` inside
 * its own handlers, and every step of teardown is idempotent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkHistory } from '@keyval/lincheck';
import type { CheckResult, Operation } from '@keyval/lincheck';
import type { WorkloadResult } from './agent-protocol';
import { ChaosCluster } from './chaos-cluster';
import { acquireChaosLock, releaseChaosLock } from './chaos-lock';
import type { ChaosOptions } from './chaos-options';
import { writeReport } from './chaos-report';
import type { RunSummary } from './chaos-report';
import { delay } from './command';
import { FaultInjector } from './fault-injector';
import type { TimelineEntry } from './fault-injector';
import { OVERLAY_FAULTS, planFaults } from './fault-plan';
import type { ChaosPki, MemberSettings } from './member-process';
import { setupNetwork, teardownNetwork } from './netns-network';
import type { MemberAddress } from './netns-network';
import { ThrowawayCa } from '@keyval/grpc';
import type { IssuedFiles } from '@keyval/grpc';

const epochNow = (): number => performance.timeOrigin + performance.now();

/** The folder name of a run: UTC time and workload. */
export function runFolderName(workload: string, at = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${stamp}-${workload}`;
}

function memberSettings(options: ChaosOptions, logDir: string, tls: ChaosPki | undefined): MemberSettings {
  const faketime = options.faults.includes('clock-monotonic') ? 'all-clocks' : options.faults.includes('clock') ? 'wall-only' : 'off';
  return { proxied: options.faults.includes('delay'), faketime, leaseReads: options.leaseReads, logDir, ...(tls === undefined ? {} : { tls }) };
}

/**
 * --tls: a throwaway CA under the run folder and a certificate per member (its namespace IP in
 * its names) and one for the client agent and its gateway. Valid from three hours before now:
 * the clock faults step a member's wall clock back by up to two hours, and a certificate "not
 * yet valid" on its clock would be a fault of the run's own making.
 */
async function makePki(dir: string, addresses: readonly MemberAddress[]): Promise<ChaosPki> {
  const validity = { notBefore: new Date(Date.now() - 3 * 3_600_000), days: 30 };
  const ca = await ThrowawayCa.create(dir, 'kvchaos CA', '', validity.notBefore);
  const members: Record<string, IssuedFiles> = {};
  for (const a of addresses) members[a.name] = await ca.issue(a.name, { hosts: [a.ip], ...validity });
  return { caFile: ca.caFile, members, agent: await ca.issue('agent', validity) };
}

/** Runs the planned faults against the cluster until `durationMs`, healing each in time. */
async function runTimeline(options: ChaosOptions, injector: FaultInjector, now: () => number): Promise<void> {
  const plan = planFaults({ durationMs: options.timeSeconds * 1000, faults: options.faults, faultWindowMs: options.faultWindowSeconds * 1000, quietMs: options.quietSeconds * 1000, seed: options.seed });
  const heals: { atMs: number; heal: () => Promise<void> }[] = [];
  const healDue = async (untilMs: number): Promise<void> => {
    heals.sort((a, b) => a.atMs - b.atMs);
    while (heals.length > 0 && (heals[0] as { atMs: number }).atMs <= untilMs) {
      const next = heals.shift() as { atMs: number; heal: () => Promise<void> };
      await delay(Math.max(0, next.atMs - now()));
      await next.heal();
    }
  };
  // Overlays (transfers, membership changes) can take seconds; they run beside the timeline
  // so that they do not stretch the window they were dropped into, one at a time (one due
  // while another still runs is skipped, and the timeline says so).
  let overlay: Promise<unknown> | undefined;
  for (const fault of plan) {
    await healDue(fault.startMs);
    await delay(Math.max(0, fault.startMs - now()));
    if (!OVERLAY_FAULTS.includes(fault.kind)) {
      heals.push({ atMs: fault.endMs, heal: (await injector.begin(fault)).heal });
    } else if (overlay === undefined) {
      overlay = injector.begin(fault).finally(() => (overlay = undefined));
    } else {
      injector.skip(fault, 'the previous transfer or membership change is still running');
    }
  }
  await healDue(Number.POSITIVE_INFINITY);
  await overlay;
  await delay(Math.max(0, options.timeSeconds * 1000 - now()));
}

/** Heals, waits for the cluster, lets the clients run a little on the healed cluster. */
async function recover(cluster: ChaosCluster, options: ChaosOptions, timeline: TimelineEntry[], now: () => number, logDir: string, log: (line: string) => void): Promise<boolean> {
  const entry: TimelineEntry = { kind: 'heal', variant: 'all', startMs: now(), endMs: now(), targets: [], description: 'heal every fault, restart stopped members, wait for a leader' };
  timeline.push(entry);
  let recovered = true;
  try {
    await cluster.healAll();
    await cluster.rejoinOutstanding(options.recoverySeconds * 1000);
    const leader = await cluster.waitHealthy(options.recoverySeconds * 1000);
    entry.description += ` (leader ${leader})`;
    await delay(3_000);
  } catch (error) {
    recovered = false;
    entry.error = error instanceof Error ? error.message : String(error);
    log(`recovery failed: ${entry.error}`);
    const diagnostics = cluster.members.map((m) => m.processDiagnostics()).join('\n');
    fs.writeFileSync(path.join(logDir, 'not-recovered.txt'), `${entry.error}\n\n${diagnostics}\n`);
    log(`member processes (logs/not-recovered.txt):\n${diagnostics}`);
  }
  entry.endMs = now();
  return recovered;
}

function counts(ops: readonly Operation[]): { ok: number; info: number; fail: number } {
  return {
    ok: ops.filter((o) => o.status === 'ok').length,
    info: ops.filter((o) => o.status === 'info').length,
    fail: ops.filter((o) => o.status === 'fail').length,
  };
}

/**
 * The verdict the summary line reports, folding in what lincheck cannot see: `violated` when
 * the workload's own checker (watch, lease) found a violation, whatever lincheck says.
 */
function overallVerdict(check: CheckResult, result: WorkloadResult): RunSummary['verdict'] {
  if ((result.final.violations?.length ?? 0) > 0) return 'violated';
  const anomalies = Number(result.final.details['unexpected'] ?? 0) + Number(result.final.details['excess'] ?? 0);
  if (check.verdict === 'not-linearizable' || anomalies > 0) return 'NOT-linearizable';
  if (check.verdict === 'unknown' || !result.final.read) return 'unknown';
  return 'linearizable';
}

/** The summary line printed last. */
export function summaryLine(s: Pick<RunSummary, 'workload' | 'faults' | 'ops' | 'ok' | 'info' | 'fail' | 'verdict' | 'lost'>): string {
  return `chaos: ${s.workload} ${s.faults} ops=${s.ops} ok=${s.ok} info=${s.info} fail=${s.fail} verdict=${s.verdict} lost=${s.lost}`;
}

/** Everything between setup and teardown; returns the summary (the report is written). */
async function runInside(options: ChaosOptions, reportDir: string, log: (line: string) => void): Promise<RunSummary> {
  const logDir = path.join(reportDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const addresses = await setupNetwork(options.members);
  log(`network up: ${addresses.map((a) => `${a.name}=${a.ip}`).join(' ')}`);
  const pki = options.tls ? await makePki(path.join(reportDir, 'pki'), addresses) : undefined;
  if (pki !== undefined) log(`mutual TLS on every client and peer connection (CA ${pki.caFile})`);
  const cluster = new ChaosCluster(addresses, memberSettings(options, logDir, pki), options.seed, log);
  try {
    await cluster.start();
    const leader = await cluster.waitHealthy(180_000);
    log(`cluster healthy, leader ${leader}; running ${options.workload}${options.via === 'gateway' ? ' through a gateway' : ''} for ${options.timeSeconds} s with faults ${options.faultsLabel} (seed ${options.seed})`);
    const t0 = epochNow();
    const now = (): number => epochNow() - t0;
    const injector = new FaultInjector(cluster, now, log);
    const params = {
      workload: options.workload,
      clients: options.clients,
      rate: options.rate,
      seed: options.seed,
      t0EpochMs: t0,
      opTimeoutMs: 5_000,
      attemptTimeoutMs: 2_000,
      runTag: `${options.seed}`,
      via: options.via,
      gatewayLog: path.join(logDir, 'gateway.log'),
    };
    await cluster.agent.call('startWorkload', params, 90_000);
    await runTimeline(options, injector, now);
    const recovered = await recover(cluster, options, injector.timeline, now, logDir, log);
    const result = await cluster.agent.call('finishWorkload', { finalReadTimeoutMs: options.recoverySeconds * 1000 }, options.recoverySeconds * 1000 + 120_000);
    log(`history: ${result.ops.length} operations; checking (up to ${options.checkTimeoutSeconds} s)`);
    const check = checkHistory(result.ops, { timeoutMs: options.checkTimeoutSeconds * 1000 });
    const summary: RunSummary = {
      workload: options.workload,
      faults: options.faultsLabel,
      seed: options.seed,
      members: options.members,
      leaseReads: options.leaseReads,
      durationMs: Math.round(now()),
      ops: result.ops.length,
      ...counts(result.ops),
      verdict: overallVerdict(check, result),
      lost: result.final.lost,
      recovered,
      final: result.final,
      memberStarts: Object.fromEntries(cluster.members.map((m) => [m.name, m.starts])),
    };
    writeReport(reportDir, { summary, options, ops: result.ops, notes: result.notes, check, timeline: injector.timeline, errors: result.errors });
    return summary;
  } finally {
    await cluster.stop();
  }
}

/**
 * Runs one chaos test and writes its report folder; resolves with the summary. Always tears
 * the network down and releases the lock, also when something failed (then it rethrows).
 */
export async function runChaos(options: ChaosOptions, log: (line: string) => void): Promise<{ summary: RunSummary; reportDir: string }> {
  await acquireChaosLock(options.lockWaitSeconds, log);
  try {
    await teardownNetwork(log);
    const reportDir = path.resolve(options.reportRoot, runFolderName(options.workload));
    fs.mkdirSync(reportDir, { recursive: true });
    log(`report folder: ${reportDir}`);
    try {
      return { summary: await runInside(options, reportDir, log), reportDir };
    } finally {
      await teardownNetwork(log);
      log('teardown done');
    }
  } finally {
    releaseChaosLock();
  }
}
