/**
 * `npm run sim:mutants`: for each mutant of the catalog, build it (mutant-build.ts), hunt it
 * through the simulation's schedules (hunt.ts) and check it is found within its bound. Prints
 * one line per mutant and, last, `sim:mutants: M mutants, F found within their bounds, X missed`.
 * Exit code 0 when every mutant was found in time, 1 when one was not, 2 on bad usage, 3 when
 * a patch no longer applies or compiles.
 *
 *     npm run sim:mutants                         every mutant, every schedule, bounds from the catalog
 *     npm run sim:mutants -- --only double-vote   some mutants (comma-separated)
 *     npm run sim:mutants -- --per-schedule       seeds-to-find of each schedule on its own (docs table)
 *     --seeds N         seeds per schedule at most (instead of each mutant's bound)
 *     --schedules L     random and/or scenarios (comma-separated; default: all)
 *     --workers W       worker threads (default: one per core)
 *     --run-timeout-ms  wall-clock allowance of one run (default 120000)
 *     --no-lincheck     skip the linearizability check in every run
 *     --classic-checks  only the checks of consequences (what the suite finds without the
 *                       protocol checker and the read-only liveness probe)
 *     --keep            keep each mutant's build and print the command replaying its finding
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError, int, parseOrExplain } from '../cli-args';
import type { Print } from '../entry';
import { SCENARIO_NAMES } from '../scenarios';
import { MUTANTS, findMutant, patchFile } from './catalog';
import type { MutantSpec } from './catalog';
import { hunt, scheduleName } from './hunt';
import { PRODUCTION_SCHEDULE, PRODUCTION_WORLD_SCHEDULE } from '../runner';
import type { Finding, HuntResult } from './hunt';
import { MutantBuildError, buildMutant } from './mutant-build';

export const MUTANTS_USAGE =
  'usage: npm run sim:mutants -- [--only NAMES] [--per-schedule] [--seeds N] [--schedules random,SCENARIO,...] [--workers W] [--run-timeout-ms MS] [--no-lincheck] [--classic-checks] [--keep]';

interface MutantsOptions {
  readonly mutants: readonly MutantSpec[];
  readonly schedules: readonly (string | undefined)[];
  readonly perSchedule: boolean;
  readonly seeds: number | undefined;
  readonly workers: number;
  readonly runTimeoutMs: number;
  readonly skipLincheck: boolean;
  readonly classicChecks: boolean;
  readonly keep: boolean;
}

export function parseMutantsCli(argv: readonly string[]): MutantsOptions {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        only: { type: 'string' },
        'per-schedule': { type: 'boolean', default: false },
        seeds: { type: 'string' },
        schedules: { type: 'string' },
        workers: { type: 'string' },
        'run-timeout-ms': { type: 'string' },
        'no-lincheck': { type: 'boolean', default: false },
        'classic-checks': { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const mutants = values.only === undefined ? MUTANTS : values.only.split(',').map((name) => {
    const m = findMutant(name.trim());
    if (m === undefined) {
      throw new UsageError(`unknown mutant "${name}"; known: ${MUTANTS.map((x) => x.name).join(', ')}`);
    }
    return m;
  });
  const allSchedules: readonly (string | undefined)[] = [undefined, ...SCENARIO_NAMES];
  const schedules = values.schedules === undefined ? allSchedules : values.schedules.split(',').map((name) => {
    const trimmed = name.trim();
    if (trimmed === 'random') {
      return undefined;
    }
    if (!SCENARIO_NAMES.includes(trimmed)) {
      throw new UsageError(`unknown schedule "${trimmed}"; known: random, ${SCENARIO_NAMES.join(', ')}`);
    }
    return trimmed;
  });
  return {
    mutants,
    schedules,
    perSchedule: values['per-schedule'] === true,
    seeds: int('seeds', values.seeds, 1, 100_000),
    workers: int('workers', values.workers, 1, 64) ?? Math.max(1, availableParallelism()),
    runTimeoutMs: int('run-timeout-ms', values['run-timeout-ms'], 1, 3_600_000) ?? 120_000,
    skipLincheck: values['no-lincheck'] === true,
    classicChecks: values['classic-checks'] === true,
    keep: values.keep === true,
  };
}

/** The repository root, from this file's place in libs/raft-sim/dist/mutation/. */
export const REPO_ROOT = join(__dirname, '..', '..', '..', '..');

export async function runMutantsCli(argv: readonly string[], print: Print, printError: Print, repoRoot = REPO_ROOT): Promise<number> {
  const o = parseOrExplain(parseMutantsCli, argv, MUTANTS_USAGE, printError);
  if (o === undefined) {
    return 2;
  }
  const started = performance.now();
  let missed = 0;
  for (const mutant of o.mutants) {
    let build;
    try {
      build = buildMutant(repoRoot, mutant.name, patchFile(repoRoot, mutant));
    } catch (error) {
      if (error instanceof MutantBuildError) {
        printError(error.message);
        print(`sim:mutants: ${mutant.name} could not be built; stopping`);
        return 3;
      }
      throw error;
    }
    try {
      // Driver and WAL mutants: production members in SimWorld, then in the standalone runner, seed by seed.
      const schedules = mutant.member === 'production' ? [PRODUCTION_WORLD_SCHEDULE, PRODUCTION_SCHEDULE] : o.schedules;
      const groups = o.perSchedule ? schedules.map((s) => [s]) : [schedules];
      for (const schedules of groups) {
        const seeds = o.seeds ?? mutant.maxSeeds;
        const t0 = performance.now();
        const result = await hunt({
          workerFile: build.workerFile,
          workers: o.workers,
          schedules,
          firstSeed: 1,
          maxSeeds: seeds,
          base: { ...(o.skipLincheck ? { skipLincheck: true } : {}), ...(o.classicChecks ? { classicChecks: true } : {}) },
          runTimeoutMs: o.runTimeoutMs,
        });
        const label = o.perSchedule ? `${mutant.name} [${scheduleName(schedules[0])}]` : mutant.name;
        print(describeResult(label, result, seeds, (performance.now() - t0) / 1000));
        if (result.finding === undefined && !o.perSchedule) {
          missed++;
        }
        if (o.keep && result.finding !== undefined) {
          print(`  replay: ${replayMutant(build.dir, result.finding, o)}`);
        }
      }
    } finally {
      if (o.keep) {
        print(`  build kept in ${build.dir} (remove it when done)`);
      } else {
        build.dispose();
      }
    }
  }
  const found = o.mutants.length - missed;
  print(`wall: ${((performance.now() - started) / 1000).toFixed(1)} s on ${o.workers} worker(s) (machine-dependent)`);
  print(`sim:mutants: ${o.mutants.length} mutants, ${found} found within their bounds, ${missed} missed`);
  return missed > 0 ? 1 : 0;
}

/** The command that replays a mutant's finding from its kept build. */
export function replayMutant(dir: string, f: Finding, o: Pick<MutantsOptions, 'skipLincheck' | 'classicChecks'>): string {
  if (f.schedule === PRODUCTION_SCHEDULE) {
    return `node ${join(dir, 'libs', 'raft-sim', 'dist', 'cli.js')} --member production-standalone --seed ${f.seed} --verbose`;
  }
  if (f.schedule === PRODUCTION_WORLD_SCHEDULE) {
    return `node ${join(dir, 'libs', 'raft-sim', 'dist', 'cli.js')} --member production --seed ${f.seed}${o.skipLincheck ? ' --no-lincheck' : ''}${o.classicChecks ? ' --classic-checks' : ''} --verbose`;
  }
  const schedule = f.schedule === 'random' ? '' : ` --scenario ${f.schedule}`;
  const flags = `${o.skipLincheck ? ' --no-lincheck' : ''}${o.classicChecks ? ' --classic-checks' : ''}`;
  return `node ${join(dir, 'libs', 'raft-sim', 'dist', 'cli.js')} --seed ${f.seed}${schedule}${flags} --verbose`;
}

function describeResult(label: string, r: HuntResult, seeds: number, seconds: number): string {
  const f = r.finding;
  if (f === undefined) {
    return `MISSED ${label}: not found in ${seeds} seeds (${r.executed} runs, ${seconds.toFixed(1)} s)`;
  }
  return `found ${label}: seed ${f.seed} of ${f.schedule} (run ${f.runs}, ${r.executed} executed, ${seconds.toFixed(1)} s): ${f.kind}: ${f.detail}`;
}
