/**
 * The gateway's logger: pino, JSON lines on stdout (the local-cluster script pretty-prints
 * them), adapted to the small logger interface the gateway lib takes.
 */
import pino from 'pino';
import type { GatewayLogger } from '@keyval/gateway-core';
import { activeTraceFields } from '@keyval/ops';

export type AppLogger = pino.Logger;

/** `traced`: add `trace_id`/`span_id` of the active span to each line (only when tracing runs). */
export function createLogger(level: string, traced = false): AppLogger {
  return pino({ name: 'gateway', level, base: { member: 'gw' }, timestamp: pino.stdTimeFunctions.isoTime, ...(traced ? { mixin: activeTraceFields } : {}) });
}

/** The lib's logger interface over pino. */
export function libLogger(logger: AppLogger): GatewayLogger {
  return {
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
  };
}
