/**
 * Crash tests with real processes: a child appends to a WAL and reports each acknowledgement;
 * it is SIGKILLed at random moments; after each kill every acknowledged write must be there,
 * intact, and the log well formed. A few dozen rounds here; `npm run test:crash -- --rounds N`
 * runs more.
 */
import { runCrashRounds } from './crash-rounds';

const ROUNDS = 30;

describe('WAL crash safety (SIGKILL, real processes)', () => {
  it(`keeps every acknowledged write across ${ROUNDS} kills at random moments`, async () => {
    const seed = Number(process.env['CRASH_SEED'] ?? 20_260_101);
    const summary = await runCrashRounds({ rounds: ROUNDS, seed });
    expect(summary.rounds).toBe(ROUNDS);
    // The rounds must have done real work: many writes, most of them acknowledged.
    expect(summary.writesAcknowledged).toBeGreaterThan(ROUNDS * 20);
    expect(summary.writesIssued).toBeGreaterThanOrEqual(summary.writesAcknowledged);
  }, 180_000);
});
