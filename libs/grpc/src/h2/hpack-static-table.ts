/**
 * The HPACK static table (RFC 7541 Appendix A): 61 predefined header fields that both ends
 * know, so that a field (or just its name) can be sent as a small index. Index 0 is unused on
 * the wire; the arrays keep an empty slot there so that the wire index is the array index.
 */

/** Number of entries in the static table; dynamic-table indices start right after it. */
export const STATIC_TABLE_LENGTH = 61;

/** Static entries as [name, value] pairs, in wire order from index 1 (RFC 7541 Appendix A). */
const ENTRIES: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/**
 * Static names by wire index (1..61); slot 0 is an empty placeholder. The decoder returns these
 * very string objects for indexed fields, so a static hit allocates nothing.
 */
export const STATIC_NAMES: readonly string[] = ['', ...ENTRIES.map((entry) => entry[0])];

/** Static values by wire index (1..61), parallel to STATIC_NAMES; empty where the RFC has none. */
export const STATIC_VALUES: readonly string[] = ['', ...ENTRIES.map((entry) => entry[1])];

/** What the static table holds for one name: its lowest index, and the index of each value. */
export interface StaticName {
  /** Lowest wire index with this name, for literals that reference the name only. */
  readonly nameIndex: number;
  /** Wire index of each static value of this name (some names have several, e.g. :status). */
  readonly values: ReadonlyMap<string, number>;
}

/**
 * The static table by name, for the encoder. Nested maps rather than one map keyed by
 * name + value: looking up the caller's (usually constant, hash-cached) strings allocates
 * nothing, where a joined key costs a new string and its hashing on every field.
 */
export const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = buildByName();

function buildByName(): Map<string, StaticName> {
  const byName = new Map<string, { nameIndex: number; values: Map<string, number> }>();
  ENTRIES.forEach(([name, value], i) => {
    let entry = byName.get(name);
    if (entry === undefined) {
      entry = { nameIndex: i + 1, values: new Map() };
      byName.set(name, entry);
    }
    entry.values.set(value, i + 1);
  });
  return byName;
}
