// Public surface of @keyval/proto.
export {};
