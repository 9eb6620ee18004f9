// Public surface of @keyval/raft-sim: the seeded whole-cluster simulation of the Raft core.
export * from './run-seed';
export * from './fault-profile';
export * from './sim.errors';
export { SafetyChecker, checkPair } from './safety-checker';
export type { NamedLog } from './safety-checker';
export { Trace } from './trace';
