/**
 * A message stream carries its sender's peer URLs (as etcd's X-PeerURLs header), so a receiver
 * whose membership does not name the sender yet can still answer it.
 */

/** The metadata key carrying the sender's peer URLs on a message stream. */
export const PEER_URLS_METADATA = 'keyval-peer-urls';

/** The first http(s) URL of a `keyval-peer-urls` value, or undefined if there is none. */
export function senderPeerUrl(value: string | undefined): string | undefined {
  for (const candidate of (value ?? '').split(',')) {
    try {
      const url = new URL(candidate.trim());
      if ((url.protocol === 'http:' || url.protocol === 'https:') && url.port !== '') return candidate.trim();
    } catch {
      // not a URL: try the next one
    }
  }
  return undefined;
}
