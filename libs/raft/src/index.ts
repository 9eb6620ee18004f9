// Public surface of @keyval/raft: a pure, deterministic Raft core (see README.md).
export * from './types';
export * from './messages';
export * from './errors';
export * from './config';
export * from './storage';
export * from './memory-storage';
export * from './ready';
export * from './conf-change-codec';
