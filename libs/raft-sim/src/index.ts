// Public surface of @keyval/raft-sim.
export {};
