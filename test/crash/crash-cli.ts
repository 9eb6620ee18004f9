/**
 * `npm run test:crash -- [--rounds N] [--seed S] [--segment-bytes B] [--keep]`: many crash rounds
 * (see crash-rounds.ts). Prints one line per round and a summary; exits 1 on the first failure.
 */
import { runCrashRounds } from './crash-rounds';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) {
    return fallback;
  }
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`--${name} needs a non-negative integer`);
  }
  return value;
}

async function main(): Promise<void> {
  const rounds = option('rounds', 200);
  const seed = option('seed', Date.now() % 1_000_000_007);
  const segmentBytes = option('segment-bytes', 64 * 1024);
  console.log(`crash test: ${rounds} rounds, seed ${seed}, ${segmentBytes}-byte segments`);
  const started = Date.now();
  const summary = await runCrashRounds({ rounds, seed, segmentBytes, keep: process.argv.includes('--keep'), log: (line) => console.log(line) });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `crash test passed: ${summary.rounds} rounds in ${seconds} s, ${summary.writesIssued} writes issued, ` +
      `${summary.writesAcknowledged} acknowledged and all found intact, ${summary.tornTailsCut} torn tails cut, ` +
      `${summary.killedBeforeReady} kills during recovery (seed ${seed})`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
