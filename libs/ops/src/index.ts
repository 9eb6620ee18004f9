// Public surface of @keyval/ops: what the apps share at their edges (flag values, the health
// HTTP server, signal handling). No Nest here: the apps wrap it.
export * from './cli-values';
export * from './health-server';
export * from './graceful-shutdown';
export * from './tracing-env';
