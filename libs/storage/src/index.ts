// Public surface of @keyval/storage.
export {};
