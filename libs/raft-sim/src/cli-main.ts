/**
 * The `npm run sim` command, callable in-process (tests) with its output captured: runs seeds
 * of the whole-cluster simulation and prints violations (each with its seed, the replay
 * command, the members' states and the last events of its trace), the run summary with
 * election-time distributions, and as the very last line `sim: N seeds, V violations`.
 * Returns the exit code: 0, 1 on any violation, 2 on bad usage.
 */
import { USAGE, parseCli, parseOrExplain, replayCommand } from './cli-args';
import type { Print } from './entry';
import type { CliOptions } from './cli-args';
import { DEFAULT_TICK_MS } from './fault-profile';
import { runSeedAsync } from './run-seed';
import type { SeedResult } from './run-seed';
import { runSeeds } from './runner';
import type { DriverMutation } from './sim-member';
import { RunSummary, formatSummary } from './summary';

function printViolation(print: Print, v: RunSummary['violations'][number], o: CliOptions, full: boolean): void {
  const r = v.report;
  const schedule = v.schedule === 'random' ? '' : ` of scenario ${v.schedule}`;
  print(`VIOLATION seed ${v.seed}${schedule} (${v.members} members) at ${r.atMs} ms: ${r.kind}: ${r.detail.split('\n')[0] ?? ''}`);
  print(`  replay: ${replayCommand(v.seed, o, v.schedule)}`);
  if (!full) {
    return;
  }
  print(`  profile: ${v.profile}`);
  for (const line of r.detail.split('\n').slice(1)) {
    print(`  ${line}`);
  }
  print('  members at the failure:');
  for (const line of r.members) {
    print(`    ${line}`);
  }
  print(`  last ${r.trace.length} events (ms, event):`);
  for (const line of r.trace) {
    print(`    ${line}`);
  }
}


/** Test-only knobs, never reachable from the command line. */
export interface CliTestHooks {
  /** A deliberate driver bug, to exercise the failure report. */
  readonly mutation?: DriverMutation;
}

export async function runCli(argv: readonly string[], print: Print, printError: Print, hooks: CliTestHooks = {}): Promise<number> {
  const o = parseOrExplain(parseCli, argv, USAGE, printError);
  if (o === undefined) {
    return 2;
  }
  if (o.member === 'production-standalone') {
    // Loaded on demand: the simulation's own runs never load the cluster.
    const { runProductionCli } = await import('./production/production-cli');
    return runProductionCli(o, print, printError);
  }
  const base = {
    ...(o.members === undefined ? {} : { members: o.members }),
    ...(o.safetyTicks === undefined ? {} : { safetyTicks: o.safetyTicks }),
    ...(o.tickMs === undefined ? {} : { tickMs: o.tickMs }),
    ...(o.traceTail === undefined ? {} : { traceTail: o.traceTail }),
    ...(o.lincheckMaxSteps === undefined ? {} : { lincheckMaxSteps: o.lincheckMaxSteps }),
    ...(o.skipLincheck ? { skipLincheck: true } : {}),
    ...(o.classicChecks ? { classicChecks: true } : {}),
    ...(hooks.mutation === undefined ? {} : { mutation: hooks.mutation }),
    ...(o.member === 'production' ? { member: 'production' as const } : {}),
  };
  const single = o.schedules[0];
  const summary = new RunSummary();
  const startedMs = performance.now();
  if (o.single) {
    const result: SeedResult = await runSeedAsync({ ...base, seed: o.first, ...(single === undefined ? {} : { scenario: single }), ...(o.verbose ? { onTrace: print } : {}) });
    summary.add(result);
    print(`seed ${result.seed}: ${result.profile}`);
    print(`seed ${result.seed}: trace hash ${result.traceHash}, ${result.events} events, simulated ${result.simulatedMs} ms, ops ok=${result.ops.ok} fail=${result.ops.fail} info=${result.ops.info}, lincheck ${result.lincheck} (${result.lincheckSteps} steps)`);
  } else {
    let done = 0;
    let lastProgressMs = startedMs;
    await runSeeds({
      first: o.first,
      count: o.count,
      schedules: o.schedules,
      workers: o.workers,
      base,
      onResult: (result) => {
        summary.add(result);
        done++;
        const now = performance.now();
        if (now - lastProgressMs > 10_000) {
          lastProgressMs = now;
          printError(`sim: ${done}/${o.count * o.schedules.length} seeds, ${summary.violations.length} violations, ${((now - startedMs) / 1000).toFixed(0)} s`);
        }
      },
    });
  }
  const wallMs = performance.now() - startedMs;
  summary.violations.sort((a, b) => a.seed - b.seed || a.schedule.localeCompare(b.schedule));
  summary.violations.forEach((v, k) => printViolation(print, v, o, o.single || k < o.maxReports));
  for (const line of formatSummary(summary, o.tickMs ?? DEFAULT_TICK_MS)) {
    print(line);
  }
  print(`wall: ${(wallMs / 1000).toFixed(1)} s, ${(wallMs / summary.seeds).toFixed(1)} ms per seed on ${o.single ? 1 : Math.min(o.workers, o.count)} worker(s) (machine-dependent)`);
  print(`sim: ${summary.seeds} seeds, ${summary.violations.length} violations`);
  return summary.violations.length > 0 ? 1 : 0;
}
