// Public surface of @keyval/outcome: what became of a failed call, read in one place.
export * from './outcome';
