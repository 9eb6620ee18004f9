/**
 * Endpoints as etcdctl takes them: a comma-separated list of `host:port`, `http://host:port` or `https://host:port`,
 * from --endpoints or KEYVAL_ENDPOINTS, defaulting to the local cluster (npm run cluster).
 */

/** The local 3-member cluster of `npm run cluster` (tools/local-cluster.js). */
export const DEFAULT_ENDPOINTS = ['127.0.0.1:2379', '127.0.0.1:22379', '127.0.0.1:32379'] as const;

/** Most endpoints one command takes (a limit on everything). */
export const ENDPOINTS_MAX = 64;

/** A bad --endpoints value; the message says which entry and why. */
export class EndpointsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EndpointsError';
  }
}

/** Normalizes one endpoint to `host:port` (IPv6 as `[addr]:port`). */
export function normalizeEndpoint(text: string): string {
  const trimmed = text.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new EndpointsError(`endpoint ${JSON.stringify(text)} is not host:port or http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EndpointsError(`endpoint ${JSON.stringify(text)}: only http:// and https:// are supported`);
  }
  if (url.port === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
    throw new EndpointsError(`endpoint ${JSON.stringify(text)} must be host:port with an explicit port`);
  }
  return url.host;
}

/** True when an endpoint of the list is https:// (kvctl then speaks TLS to all, as etcdctl does). */
export function anyHttps(text: string): boolean {
  return text.split(',').some((p) => /^https:\/\//i.test(p.trim()));
}

/** Parses a comma-separated endpoint list (duplicates dropped, order kept). */
export function parseEndpoints(text: string): string[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (parts.length === 0) throw new EndpointsError('no endpoint given');
  if (parts.length > ENDPOINTS_MAX) throw new EndpointsError(`${parts.length} endpoints given; at most ${ENDPOINTS_MAX}`);
  return [...new Set(parts.map(normalizeEndpoint))];
}
