/**
 * Hunts one mutant: runs the simulation's schedules on the mutant build, seed by seed, until a
 * run finds a violation or the seed budget is spent. Runs are ordered (seed 1 of every
 * schedule, then seed 2 of every schedule, ...) and spread over worker threads; the answer is
 * the FIRST run in that order that finds the mutant, whatever order the workers finish in, so
 * "found at seed S by schedule X after R runs" is the same on every machine. Runs after a
 * known finding are skipped, so a found mutant costs little.
 *
 * A run that exceeds its wall-clock allowance (a mutant can make the core loop forever) ends
 * its worker and counts as a finding of kind `hang`: a member stuck in a loop is a dead member.
 */
import { Worker } from 'node:worker_threads';
import type { BaseOptions, FromWorker, RunRef, ToWorker } from '../runner';

export interface HuntOptions {
  /** The worker-thread entry point of the build under test. */
  readonly workerFile: string;
  readonly workers: number;
  /** Schedules in run order: undefined is the random schedule, a string a scenario. */
  readonly schedules: readonly (string | undefined)[];
  readonly firstSeed: number;
  /** Seeds per schedule at most. */
  readonly maxSeeds: number;
  readonly base: BaseOptions;
  /** Wall-clock allowance of one run. */
  readonly runTimeoutMs: number;
  /** Called as runs complete (progress). */
  readonly onRun?: (done: number) => void;
}

export interface Finding {
  readonly seed: number;
  readonly schedule: string;
  /** Position of the finding run in the run order, from 1. */
  readonly runs: number;
  readonly kind: string;
  readonly detail: string;
}

export interface HuntResult {
  readonly finding: Finding | undefined;
  /** Runs actually executed (at least `finding.runs` when found, some after it skipped). */
  readonly executed: number;
  /** Runs in the budget: schedules x maxSeeds. */
  readonly budget: number;
}

/** Longest a hunt's unit list may be (a limit on everything). */
export const MAX_HUNT_RUNS = 1_000_000;

export function scheduleName(schedule: string | undefined): string {
  return schedule ?? 'random';
}

export async function hunt(options: HuntOptions): Promise<HuntResult> {
  const units: RunRef[] = [];
  for (let s = 0; s < options.maxSeeds; s++) {
    for (const scenario of options.schedules) {
      units.push(scenario === undefined ? { seed: options.firstSeed + s } : { seed: options.firstSeed + s, scenario });
    }
  }
  if (units.length > MAX_HUNT_RUNS) {
    throw new RangeError(`a hunt of ${units.length} runs exceeds ${MAX_HUNT_RUNS}`);
  }
  const state = new HuntState(units);
  const workers = Math.max(1, Math.min(options.workers, units.length));
  await Promise.all(Array.from({ length: workers }, () => runWorker(options, state)));
  return { finding: state.finding(), executed: state.executed, budget: units.length };
}

/** Which unit runs next, and the earliest finding so far. */
class HuntState {
  private next = 0;
  /** Position of the earliest finding so far (units after it are skipped). */
  private best = Number.POSITIVE_INFINITY;
  private bestFinding: Finding | undefined = undefined;
  executed = 0;

  constructor(readonly units: readonly RunRef[]) {}

  /** The next unit worth running, with its position, or undefined when none is left. */
  take(): { unit: RunRef; at: number } | undefined {
    if (this.next >= this.units.length || this.next > this.best) {
      return undefined;
    }
    const at = this.next++;
    return { unit: this.units[at] as RunRef, at };
  }

  done(at: number, kind: string | undefined, detail: string): void {
    this.executed++;
    if (kind === undefined || at >= this.best) {
      return;
    }
    const unit = this.units[at] as RunRef;
    this.best = at;
    this.bestFinding = { seed: unit.seed, schedule: scheduleName(unit.scenario), runs: at + 1, kind, detail };
  }

  finding(): Finding | undefined {
    return this.bestFinding;
  }
}

/** One worker thread: takes units one at a time until none is left (replaced after a hang). */
function runWorker(options: HuntOptions, state: HuntState): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const start = (): void => {
      const worker = new Worker(options.workerFile, { workerData: options.base });
      let current: { at: number; timer: NodeJS.Timeout } | undefined;
      let retired = false;
      const feed = (): void => {
        const next = state.take();
        if (next === undefined) {
          worker.postMessage({ type: 'exit' } satisfies ToWorker);
          return;
        }
        const timer = setTimeout(() => {
          // The run is stuck: count it as found (a hung member) and carry on in a new worker.
          retired = true;
          current = undefined;
          state.done(next.at, 'hang', `the run did not finish within ${options.runTimeoutMs} ms of wall-clock time`);
          options.onRun?.(state.executed);
          void worker.terminate().then(start, reject);
        }, options.runTimeoutMs);
        current = { at: next.at, timer };
        worker.postMessage({ type: 'run', runs: [next.unit] } satisfies ToWorker);
      };
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'idle') {
          feed();
          return;
        }
        if (current !== undefined) {
          clearTimeout(current.timer);
          const v = message.type === 'result' ? message.result.violation : message.violation;
          state.done(current.at, v?.kind, v === undefined ? '' : (v.detail.split('\n')[0] ?? ''));
          current = undefined;
          options.onRun?.(state.executed);
        }
      });
      worker.on('error', (error) => {
        if (current !== undefined) {
          clearTimeout(current.timer);
        }
        retired = true;
        reject(error);
      });
      worker.on('exit', (code) => {
        if (retired) {
          return;
        }
        if (current !== undefined) {
          clearTimeout(current.timer);
          reject(new Error(`sim worker exited with code ${code} during a run`));
        } else if (code === 0) {
          resolve();
        } else {
          reject(new Error(`sim worker exited with code ${code}`));
        }
      });
      feed();
    };
    start();
  });
}
