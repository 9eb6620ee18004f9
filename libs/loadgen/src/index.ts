// Public surface of @keyval/loadgen: the load generator behind `npm run bench` and `kvctl bench`.
export * from './latency';
export * from './load';
export * from './process-cpu';
export * from './disk-probe';
