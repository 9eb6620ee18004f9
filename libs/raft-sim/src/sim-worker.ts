/**
 * A worker thread of the runner: runs the batches of seeds it is sent, posting each result,
 * then asks for more; exits when told to.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BaseOptions, FromWorker, ToWorker } from './runner';
import { runSeed } from './run-seed';

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
  for (const run of message.runs) {
    port.postMessage({ type: 'result', result: runSeed({ ...base, ...run }) } satisfies FromWorker);
  }
  port.postMessage({ type: 'idle' } satisfies FromWorker);
});
