// Public surface of @keyval/statemachine.
export {};
