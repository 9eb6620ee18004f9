// Public surface of @keyval/cluster.
export {};
