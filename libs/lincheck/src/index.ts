// Public surface of @keyval/lincheck.
export {};
