/**
 * The mutation suite's catalog: deliberate bugs, each a small patch in libs/raft-sim/mutants/
 * against the production sources, and the number of seeds within which the simulation must
 * find it (`npm run sim:mutants` fails otherwise). A mutant the simulation cannot find is a gap
 * in the simulation to close — a better check or a targeted schedule — never one to delete.
 *
 * Bounds are stated per schedule: "found within S seeds" means some run of seed <= S, of the
 * random schedule or of a targeted scenario, finds it (runs go seed by seed through every
 * schedule: see hunt.ts). Each bound is about five times the measured seeds-to-find (at least
 * 20), so that ordinary changes to the simulation, which reshuffle every seed, do not trip it;
 * the measured figures are in docs/simulation.md.
 */
import { join } from 'node:path';

export type MutantLayer = 'core' | 'driver' | 'wal';

export interface MutantSpec {
  readonly name: string;
  readonly layer: MutantLayer;
  /** The rule the mutant breaks, with the paper's section. */
  readonly breaks: string;
  /** Found within this many seeds per schedule, or the suite fails. */
  readonly maxSeeds: number;
  /**
   * `production`: hunted on production members, which run the driver and the WAL — seed by
   * seed, `--member production` in SimWorld then the standalone runner (production/); otherwise
   * on the simulation's own member and its schedules.
   */
  readonly member?: 'production';
}

export const MUTANTS: readonly MutantSpec[] = [
  { name: 'election-restriction', layer: 'core', breaks: '§5.4.1 election restriction: a vote for a longer log whose last term is older', maxSeeds: 40 },
  { name: 'figure8-commit', layer: 'core', breaks: '§5.4.2 / Figure 8: an earlier term\'s entry committed by counting replicas', maxSeeds: 20 },
  { name: 'log-matching', layer: 'core', breaks: '§5.3 log matching: an Append accepted whatever the term at prevLogIndex', maxSeeds: 20 },
  { name: 'conflict-kept', layer: 'core', breaks: '§5.3: a conflicting suffix is kept instead of overwritten', maxSeeds: 20 },
  { name: 'matching-suffix-truncated', layer: 'core', breaks: '§5.3: a stale Append whose entries all match truncates the entries after them', maxSeeds: 20 },
  { name: 'quorum-even', layer: 'core', breaks: '§5.2/§5.3 quorum: n/2 instead of n/2+1 voters when n is even', maxSeeds: 20 },
  { name: 'no-noop', layer: 'core', breaks: '§8: a new leader appends no entry of its term (reads and old entries wait forever without writes)', maxSeeds: 20 },
  { name: 'readindex-no-round', layer: 'core', breaks: '§6.4 ReadIndex: reads served without a heartbeat round confirming leadership', maxSeeds: 20 },
  { name: 'lease-no-vote-guard', layer: 'core', breaks: '§6.4.1/§9.6 leases without check-quorum: voters that hear from a leader still grant votes', maxSeeds: 20 },
  { name: 'lease-no-drift-margin', layer: 'core', breaks: '§6.4.1 lease: a whole election timeout, no allowance for clock drift', maxSeeds: 50 },
  { name: 'double-vote', layer: 'core', breaks: '§5.2 / Figure 2: a vote grant leaves before the vote is durable', maxSeeds: 20 },
  { name: 'snapshot-keeps-conflict', layer: 'core', breaks: '§7: an installed snapshot keeps a conflicting suffix', maxSeeds: 20 },
  { name: 'driver-ack-before-fsync', layer: 'driver', breaks: '§5.2/§5.3: the ready loop sends a Ready\'s votes and acknowledgements before its writes are durable', maxSeeds: 20, member: 'production' },
  { name: 'driver-apply-before-commit', layer: 'driver', breaks: '§5.3: the ready loop applies a Ready\'s new entries before they are committed', maxSeeds: 20, member: 'production' },
  { name: 'driver-reapply-after-restart', layer: 'driver', breaks: '§5.3 / Figure 2 lastApplied: a restarted driver starts the core from the log\'s snapshot, not the durable state machine\'s applied index: entries applied twice', maxSeeds: 20, member: 'production' },
  { name: 'wal-corrupt-middle-as-torn-tail', layer: 'wal', breaks: '§5.2 / Figure 2 stable storage: WAL recovery cuts a damaged record followed by valid ones as if it were a torn tail, losing acknowledged entries', maxSeeds: 30, member: 'production' },
];

/** Where the patch files live, relative to the repository root. */
export const MUTANTS_DIR = join('libs', 'raft-sim', 'mutants');

export function patchFile(repoRoot: string, mutant: MutantSpec): string {
  return join(repoRoot, MUTANTS_DIR, `${mutant.name}.patch`);
}

export function findMutant(name: string): MutantSpec | undefined {
  return MUTANTS.find((m) => m.name === name);
}
