/**
 * Flag values shared by the apps' command lines: URLs to listen on, comma lists, bounded whole
 * numbers. Bad input is a UsageError naming the flag; the apps print it and exit 2.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An http:// or https:// URL with a port, split for listening. */
export interface ListenUrl {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** https: serve TLS on it. */
  readonly secure: boolean;
}

export function parseListenUrl(value: string, flag: string): ListenUrl {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new UsageError(`${flag}: ${JSON.stringify(value)} is not a URL (expected e.g. http://127.0.0.1:2379)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`${flag}: ${value}: only http:// and https:// are supported`);
  }
  if (parsed.port === '' || (parsed.pathname !== '/' && parsed.pathname !== '')) {
    throw new UsageError(`${flag}: ${value} must be http://host:port or https://host:port`);
  }
  return { url: value, host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port), secure: parsed.protocol === 'https:' };
}

/** The non-empty items of a comma-separated list. */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

export function parseListenUrls(value: string, flag: string): ListenUrl[] {
  return commaList(value).map((v) => parseListenUrl(v, flag));
}

/** A whole number in [1, max]. */
export function positiveInt(value: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0 || Number(value) > max) {
    throw new UsageError(`${flag}: expected a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}
