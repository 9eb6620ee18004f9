/** Nest injection tokens of the keyval app. */
export const KEYVAL_CONFIG = Symbol('KEYVAL_CONFIG');
export const KEYVAL_LOGGER = Symbol('KEYVAL_LOGGER');
