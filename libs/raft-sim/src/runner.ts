/**
 * Runs many seeds, in this process or spread over worker threads (one per core by default).
 * Workers pull small batches of seeds, so a slow seed does not hold up the rest; results come
 * back in any order and are aggregated order-independently, so the printed summary depends
 * only on the seeds, never on scheduling.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { RunOptions, SeedResult } from './run-seed';
import { runSeedAsync } from './run-seed';

/** Seed options shared by every seed of a run. */
export type BaseOptions = Omit<RunOptions, 'seed' | 'onTrace'>;

export interface RunManyOptions {
  readonly first: number;
  readonly count: number;
  /** Schedules each seed runs, in order (undefined: the random schedule). Default: random only. */
  readonly schedules?: readonly (string | undefined)[];
  readonly workers: number;
  readonly base: BaseOptions;
  readonly onResult: (result: SeedResult) => void;
}

/** Seeds handed to a worker at a time. */
const BATCH_SEEDS = 8;
/** Largest number of worker threads (a limit on everything). */
export const MAX_WORKERS = 64;

/** One run: a seed of the random schedule, or of a targeted scenario. */
export interface RunRef {
  readonly seed: number;
  readonly scenario?: string;
}

/** Messages between the runner and its workers. */
export type ToWorker = { readonly type: 'run'; readonly runs: readonly RunRef[] } | { readonly type: 'exit' };
export type FromWorker =
  | { readonly type: 'result'; readonly result: SeedResult }
  /** A run of the production schedule (production members: production/production-run.ts). */
  | { readonly type: 'production-result'; readonly seed: number; readonly violation: { readonly kind: string; readonly detail: string } | undefined }
  | { readonly type: 'idle' };

/** The schedule name of runs on production members in their standalone runner (production/production-run.ts). */
export const PRODUCTION_SCHEDULE = 'production';
/** The schedule name of random-schedule runs on production members in SimWorld (`--member production`). */
export const PRODUCTION_WORLD_SCHEDULE = 'production-world';

export const WORKER_FILE = join(__dirname, 'sim-worker.js');

export async function runSeeds(options: RunManyOptions): Promise<void> {
  const schedules = options.schedules ?? [undefined];
  const all: RunRef[] = [];
  for (let k = 0; k < options.count; k++) {
    for (const scenario of schedules) {
      all.push(scenario === undefined ? { seed: options.first + k } : { seed: options.first + k, scenario });
    }
  }
  const workers = Math.min(options.workers, MAX_WORKERS, all.length);
  if (workers <= 1 || !existsSync(WORKER_FILE)) {
    for (const run of all) {
      options.onResult(await runSeedAsync({ ...options.base, ...run }));
    }
    return;
  }
  let next = 0;
  const takeBatch = (): RunRef[] => all.slice(next, (next = Math.min(all.length, next + BATCH_SEEDS)));
  const runners: Promise<void>[] = [];
  for (let w = 0; w < workers; w++) {
    runners.push(
      new Promise<void>((resolve, reject) => {
        const worker = new Worker(WORKER_FILE, { workerData: options.base });
        const feed = (): void => {
          const runs = takeBatch();
          worker.postMessage(runs.length > 0 ? ({ type: 'run', runs } satisfies ToWorker) : ({ type: 'exit' } satisfies ToWorker));
        };
        worker.on('message', (message: FromWorker) => {
          if (message.type === 'result') {
            options.onResult(message.result);
          } else {
            feed();
          }
        });
        worker.on('error', reject);
        worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sim worker exited with code ${code}`))));
        feed();
      }),
    );
  }
  await Promise.all(runners);
}
