/**
 * The member's logger: pino, JSON lines on stdout (the local-cluster script pretty-prints
 * them), adapted to the small logger interface the libs take.
 */
import pino from 'pino';
import type { DriverLogger } from '@keyval/cluster';

export type AppLogger = pino.Logger;

export function createLogger(name: string, level: string): AppLogger {
  return pino({ name, level, base: { member: name }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** The libs' logger interface over pino. */
export function libLogger(logger: AppLogger): DriverLogger {
  return {
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    error: (message, fields) => logger.error(fields ?? {}, message),
  };
}
