// Public surface of @keyval/raft: a pure, deterministic Raft core (see README.md).
export * from './types';
export * from './messages';
export * from './errors';
export * from './config';
export * from './storage';
export * from './memory-storage';
export * from './ready';
export * from './conf-change-codec';
export * from './node';
export { ProgressState } from './progress';
export { VoteResult, quorumMinimum, quorumSize } from './quorum';
export { applyChange } from './raft-membership';
export { bootstrapEntries } from './bootstrap';
