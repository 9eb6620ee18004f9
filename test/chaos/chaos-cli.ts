/**
 * `npm run chaos -- --time 60 --faults all --workload register [--members 3|5] [--seed N] …`
 * (see chaos-options.ts for every flag). Prints progress, then as its LAST line:
 *
 *     chaos: <workload> <faults> ops=N ok=N info=N fail=N verdict=<linearizable|NOT-linearizable|violated|unknown> lost=N
 *
 * Exit status: 0 linearizable, nothing lost and the cluster recovered; 1 not linearizable,
 * acknowledged writes lost, or a watch/lease checker violation; 2 unknown, not recovered, bad usage or a harness failure.
 * SIGINT/SIGTERM tear everything down before exiting.
 */
import { releaseChaosLock } from './chaos-lock';
import { ChaosUsageError } from './chaos.errors';
import { chaosHelp, parseChaosArgs } from './chaos-options';
import { runChaos, summaryLine } from './chaos-run';
import { teardownNetwork } from './netns-network';

const started = Date.now();
const log = (line: string): void => {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

let stopping = false;
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) process.exit(130);
  stopping = true;
  log(`${signal}: tearing down`);
  teardownNetwork(log)
    .catch((error: unknown) => log(`teardown failed: ${String(error)}`))
    .finally(() => {
      releaseChaosLock();
      process.exit(130);
    });
}

async function main(): Promise<number> {
  const options = parseChaosArgs(process.argv.slice(2));
  if (options === undefined) return 0;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const { summary, reportDir } = await runChaos(options, log);
  log(`report: ${reportDir}/index.html`);
  log(`final: ${JSON.stringify(summary.final.details)}; recovered: ${summary.recovered}`);
  process.stdout.write(`${summaryLine(summary)}\n`);
  if (summary.verdict === 'NOT-linearizable' || summary.verdict === 'violated' || summary.lost > 0) return 1;
  return summary.verdict === 'linearizable' && summary.recovered ? 0 : 2;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ChaosUsageError) {
      process.stderr.write(`chaos: ${error.message}\n\n${chaosHelp()}`);
    } else {
      process.stderr.write(`chaos: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exit(2);
  },
);
