/**
 * Command-line options of `npm run sim`. Every number is validated with a clear message.
 *
 *     npm run sim -- --seeds N        seeds 1..N (or --first F --seeds N: F..F+N-1)
 *     npm run sim -- --seed S         replay one seed exactly (add --verbose for the whole trace)
 *     --members M   cluster size instead of the seed's choice (3, 5 or 7; 1..9 accepted)
 *     --ticks T     length of the safety phase in ticks instead of the seed's choice
 *     --tick-ms MS  simulated length of a tick (default 10)
 *     --workers W   worker threads (default: one per core)
 *     --trace-tail N         trace lines kept for a failure report (default 80)
 *     --lincheck-steps N     linearizability search budget per seed (default 5,000,000)
 *     --max-reports N        violations reported in full (default 3; the rest in one line)
 *     --no-lincheck          skip the linearizability check (faster; safety checkers still run)
 *     --scenario NAME        a targeted scenario instead of the random schedule (`all`: each in turn)
 *     --member production    members are the production driver, WAL and state machine
 *                            (production/world-production-member.ts) in the same world, faults and
 *                            checks; no scenarios, membership changes, transfers or snapshots
 *     --member production-standalone  production members in their own smaller runner
 *                            (production/production-run.ts; where the driver/WAL mutants are hunted)
 *     --classic-checks       only the checks of consequences (no protocol-checker rules, no read-only
 *                            liveness probe): to measure what checking faults where they happen adds
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { SCENARIO_NAMES } from './scenarios';

export interface CliOptions {
  readonly first: number;
  readonly count: number;
  readonly single: boolean;
  readonly members: number | undefined;
  readonly safetyTicks: number | undefined;
  readonly tickMs: number | undefined;
  readonly verbose: boolean;
  readonly workers: number;
  readonly traceTail: number | undefined;
  readonly lincheckMaxSteps: number | undefined;
  readonly maxReports: number;
  readonly skipLincheck: boolean;
  /** Schedules each seed runs: undefined is the random schedule, a name a scenario. */
  readonly schedules: readonly (string | undefined)[];
  readonly classicChecks: boolean;
  /** Which member runs: the simulation's own (`sim`) or the production driver, WAL and state machine. */
  readonly member: CliMemberKind;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = 'usage: npm run sim -- (--seeds N [--first F] | --seed S) [--members M] [--ticks T] [--tick-ms MS] [--verbose] [--workers W] [--trace-tail N] [--lincheck-steps N] [--max-reports N] [--no-lincheck] [--scenario NAME|all] [--classic-checks] [--member sim|production|production-standalone]';

/** An integer option in [lo, hi], or undefined when absent; anything else is a UsageError naming the flag. */
export function int(name: string, raw: string | undefined, lo: number, hi: number): number | undefined {
  if (raw === undefined) {
    return undefined;
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < lo || value > hi) {
    throw new UsageError(`--${name} must be an integer in [${lo}, ${hi}], got "${raw}"`);
  }
  return value;
}

/** Parses with `parse`; on a UsageError prints it with `usage` and returns undefined (exit code 2). */
export function parseOrExplain<T>(parse: (argv: readonly string[]) => T, argv: readonly string[], usage: string, printError: (line: string) => void): T | undefined {
  try {
    return parse(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      printError(`${error.message}\n${usage}`);
      return undefined;
    }
    throw error;
  }
}

/**
 * The member implementations the simulation can run: in SimWorld, the simulation's own (`sim`)
 * or production members (`production`); or production members in their own smaller runner
 * (`production-standalone`, production/production-run.ts: the driver and WAL mutants' hunts).
 */
export type CliMemberKind = 'sim' | 'production' | 'production-standalone';

/** Options of SimWorld runs that the standalone production runner does not take. */
const SIM_WORLD_ONLY = ['members', 'ticks', 'tick-ms', 'scenario', 'classic-checks', 'workers', 'lincheck-steps', 'no-lincheck'] as const;

export function parseCli(argv: readonly string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        seeds: { type: 'string' },
        seed: { type: 'string' },
        first: { type: 'string' },
        members: { type: 'string' },
        ticks: { type: 'string' },
        'tick-ms': { type: 'string' },
        verbose: { type: 'boolean', default: false },
        workers: { type: 'string' },
        'trace-tail': { type: 'string' },
        'lincheck-steps': { type: 'string' },
        'max-reports': { type: 'string' },
        'no-lincheck': { type: 'boolean', default: false },
        scenario: { type: 'string' },
        'classic-checks': { type: 'boolean', default: false },
        member: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  const seed = int('seed', v.seed, 0, 0xffff_ffff);
  const seeds = int('seeds', v.seeds, 1, 100_000_000);
  if ((seed === undefined) === (seeds === undefined)) {
    throw new UsageError('give exactly one of --seeds N or --seed S');
  }
  if (seed !== undefined && v.first !== undefined) {
    throw new UsageError('--first goes with --seeds, not --seed');
  }
  const first = seed ?? int('first', v.first, 0, 0xffff_ffff) ?? 1;
  const member = v.member ?? 'sim';
  if (member !== 'sim' && member !== 'production' && member !== 'production-standalone') {
    throw new UsageError(`--member must be sim, production or production-standalone, got "${member}"`);
  }
  if (member === 'production-standalone') {
    const given = SIM_WORLD_ONLY.filter((name) => v[name] !== undefined && v[name] !== false);
    if (given.length > 0) {
      throw new UsageError(`--member production-standalone does not take --${given.join(', --')} (it runs its own cluster sizes and faults, seeds one at a time)`);
    }
  }
  if (member === 'production' && v.scenario !== undefined) {
    throw new UsageError('--scenario runs only on the simulation\'s own member (--member sim)');
  }
  const schedules = parseSchedules(v.scenario, seed !== undefined);
  if (v.scenario !== undefined && v.members !== undefined) {
    throw new UsageError('--members does not go with --scenario (each scenario chooses its cluster)');
  }
  return {
    first,
    count: seeds ?? 1,
    single: seed !== undefined,
    members: int('members', v.members, 1, 9),
    safetyTicks: int('ticks', v.ticks, 1, 1_000_000),
    tickMs: int('tick-ms', v['tick-ms'], 1, 1000),
    verbose: v.verbose === true,
    workers: int('workers', v.workers, 1, 64) ?? Math.max(1, availableParallelism()),
    traceTail: int('trace-tail', v['trace-tail'], 1, 100_000),
    lincheckMaxSteps: int('lincheck-steps', v['lincheck-steps'], 1, 1_000_000_000),
    maxReports: int('max-reports', v['max-reports'], 0, 1_000_000) ?? 3,
    skipLincheck: v['no-lincheck'] === true,
    schedules,
    classicChecks: v['classic-checks'] === true,
    member,
  };
}

function parseSchedules(raw: string | undefined, single: boolean): readonly (string | undefined)[] {
  if (raw === undefined) {
    return [undefined];
  }
  if (raw === 'all') {
    if (single) {
      throw new UsageError('--scenario all goes with --seeds; replay one scenario with --seed S --scenario NAME');
    }
    return SCENARIO_NAMES;
  }
  if (!SCENARIO_NAMES.includes(raw)) {
    throw new UsageError(`--scenario must be one of ${SCENARIO_NAMES.join(', ')} or all, got "${raw}"`);
  }
  return [raw];
}

/** The command that replays `seed` with the same overrides. */
export function replayCommand(seed: number, o: Pick<CliOptions, 'members' | 'safetyTicks' | 'tickMs' | 'skipLincheck'> & { readonly classicChecks?: boolean; readonly member?: CliMemberKind }, schedule = 'random'): string {
  const extra = [
    o.member === undefined || o.member === 'sim' ? '' : ` --member ${o.member}`,
    schedule === 'random' ? '' : ` --scenario ${schedule}`,
    o.members === undefined ? '' : ` --members ${o.members}`,
    o.safetyTicks === undefined ? '' : ` --ticks ${o.safetyTicks}`,
    o.tickMs === undefined ? '' : ` --tick-ms ${o.tickMs}`,
    o.skipLincheck ? ' --no-lincheck' : '',
    o.classicChecks === true ? ' --classic-checks' : '',
  ].join('');
  return `npm run sim -- --seed ${seed}${extra} --verbose`;
}
