/**
 * A worker thread of the runner: runs the batches of seeds it is sent, posting each result,
 * then asks for more; exits when told to.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PRODUCTION_SCHEDULE, PRODUCTION_WORLD_SCHEDULE } from './runner';
import type { BaseOptions, FromWorker, ToWorker } from './runner';
import { runSeedAsync } from './run-seed';

const port = parentPort;
if (port === null) {
  throw new Error('sim-worker.js must run as a worker thread');
}
const base = workerData as BaseOptions;
port.on('message', (message: ToWorker) => {
  if (message.type === 'exit') {
    port.close();
    return;
  }
  void (async () => {
    for (const run of message.runs) {
      if (run.scenario === PRODUCTION_SCHEDULE) {
        // Loaded only for production runs: the simulation's own runs never load the cluster.
        const { runProductionSeed } = await import('./production/production-run');
        const result = await runProductionSeed({ seed: run.seed });
        const v = result.violation;
        port.postMessage({ type: 'production-result', seed: run.seed, violation: v === undefined ? undefined : { kind: v.kind, detail: v.detail } } satisfies FromWorker);
      } else if (run.scenario === PRODUCTION_WORLD_SCHEDULE) {
        port.postMessage({ type: 'result', result: await runSeedAsync({ ...base, seed: run.seed, member: 'production' }) } satisfies FromWorker);
      } else {
        port.postMessage({ type: 'result', result: await runSeedAsync({ ...base, ...run }) } satisfies FromWorker);
      }
    }
    port.postMessage({ type: 'idle' } satisfies FromWorker);
  })();
});
