/** Nest injection tokens of the gateway app. */
export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
export const GATEWAY_LOGGER = Symbol('GATEWAY_LOGGER');
/** The process's Tracing (tracing.ts): its tracer is undefined when tracing is off. */
export const GATEWAY_TRACING = Symbol('GATEWAY_TRACING');
