/**
 * The targeted schedules, by name. `npm run sim -- --scenario NAME --seeds N` runs one; the
 * mutation suite runs them all beside the random schedule.
 */
import { clientRetry } from './client-retry';
import { deposedLeader } from './deposed-leader';
import { figure8 } from './figure8';
import { lostVote } from './lost-vote';
import { membershipPartition } from './membership-partition';
import type { Scenario } from './scenario';
import { snapshotConflict } from './snapshot-conflict';

export type { Scenario } from './scenario';
export { ScenarioContext, ScriptRunner } from './script';

export const SCENARIOS: readonly Scenario[] = [figure8, deposedLeader, lostVote, snapshotConflict, membershipPartition, clientRetry];

export const SCENARIO_NAMES: readonly string[] = SCENARIOS.map((s) => s.name);

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
