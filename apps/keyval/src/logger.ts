/**
 * The member's logger: pino, JSON lines on stdout (the local-cluster script pretty-prints
 * them), adapted to the small logger interface the libs take.
 */
import pino from 'pino';
import type { DriverLogger } from '@keyval/cluster';
import { activeTraceFields } from '@keyval/ops';

export type AppLogger = pino.Logger;

/** `traced`: add `trace_id`/`span_id` of the active span to each line (only when tracing runs: it costs a lookup per line). */
export function createLogger(name: string, level: string, traced = false): AppLogger {
  return pino({ name, level, base: { member: name }, timestamp: pino.stdTimeFunctions.isoTime, ...(traced ? { mixin: activeTraceFields } : {}) });
}

/** The libs' logger interface over pino. */
export function libLogger(logger: AppLogger): DriverLogger {
  return {
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    error: (message, fields) => logger.error(fields ?? {}, message),
  };
}
