/**
 * The gateway's logger: pino, JSON lines on stdout (the local-cluster script pretty-prints
 * them), adapted to the small logger interface the gateway lib takes.
 */
import pino from 'pino';
import type { GatewayLogger } from '@keyval/gateway-core';

export type AppLogger = pino.Logger;

export function createLogger(level: string): AppLogger {
  return pino({ name: 'gateway', level, base: { member: 'gw' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** The lib's logger interface over pino. */
export function libLogger(logger: AppLogger): GatewayLogger {
  return {
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
  };
}
