/** Nest injection tokens of the keyval app. */
export const KEYVAL_CONFIG = Symbol('KEYVAL_CONFIG');
export const KEYVAL_LOGGER = Symbol('KEYVAL_LOGGER');
/** The process's Tracing (tracing.ts): its tracer is undefined when tracing is off. */
export const KEYVAL_TRACING = Symbol('KEYVAL_TRACING');
