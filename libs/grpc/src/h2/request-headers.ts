/**
 * A request's header list checked as RFC 9113 §8 requires, then presented as Node presents it
 * (an object; repeated names joined with ", "). Anything malformed is a stream error of type
 * PROTOCOL_ERROR (§8.1.1): the stream is reset, the connection goes on.
 *
 *     fields ─► names: lower-case tokens, pseudo-headers first, known, once (§8.2.1, §8.3)
 *            ─► values: no NUL, CR or LF, no leading or trailing blank (§8.2.1)
 *            ─► no connection-specific fields; `te` only "trailers" (§8.2.2)
 *            ─► :method, :scheme and a non-empty :path present (CONNECT: :authority only) (§8.3.1)
 *            ─► content-length, when given, digits only (checked against DATA by the connection, §8.1.1)
 *
 * This runs for every request, so it loops over characters without regular expressions, and
 * the names and values it has already accepted (HPACK hands out the same strings for indexed
 * fields) are remembered in small bounded sets.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import { H2Error, H2ProtocolError } from './frame';

const REQUEST_PSEUDO_HEADERS = new Set([':method', ':scheme', ':path', ':authority']);
/** Fields that belong to one hop of HTTP/1.1 and are malformed in HTTP/2 (§8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'proxy-connection', 'keep-alive', 'transfer-encoding', 'upgrade']);

/** Names and values already found valid, up to this many each. */
const ACCEPTED_MAX = 1024;
const acceptedNames = new Set<string>();
const acceptedValues = new Set<string>();

function malformed(streamId: number, why: string): H2ProtocolError {
  return new H2ProtocolError(H2Error.PROTOCOL_ERROR, `malformed request on stream ${streamId}: ${why}`, streamId);
}

/** A field name with none of 0x00-0x20, A-Z, 0x7f-0xff, and no colon after the first character (§8.2.1). */
export function isValidFieldName(name: string): boolean {
  if (acceptedNames.has(name)) {
    return true;
  }
  if (name.length === 0) {
    return false;
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || (c === 0x3a && i > 0)) {
      return false;
    }
  }
  if (acceptedNames.size < ACCEPTED_MAX) {
    acceptedNames.add(name);
  }
  return true;
}

/** A field value with no NUL, CR or LF, and no space or tab at either end (§8.2.1). */
export function isValidFieldValue(value: string): boolean {
  const length = value.length;
  if (length === 0 || acceptedValues.has(value)) {
    return true;
  }
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(length - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) {
    return false;
  }
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) {
      return false;
    }
  }
  if (length <= 64 && acceptedValues.size < ACCEPTED_MAX) {
    acceptedValues.add(value);
  }
  return true;
}

/**
 * The request header list `fields` (flat [name, value, ...]) as an object. Throws a stream
 * error (PROTOCOL_ERROR on `streamId`) for a malformed request.
 */
export function requestHeaders(fields: readonly string[], streamId: number): IncomingHttpHeaders {
  const headers: Record<string, string> = {};
  let regularSeen = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (name.charCodeAt(0) === 0x3a) {
      if (regularSeen || !REQUEST_PSEUDO_HEADERS.has(name) || name in headers) {
        throw malformed(streamId, `pseudo-header ${name} is unknown, repeated or after a regular field`);
      }
    } else {
      regularSeen = true;
      if (!isValidFieldName(name)) {
        throw malformed(streamId, `field name ${JSON.stringify(name)} is not a lower-case token`);
      }
      if (CONNECTION_SPECIFIC.has(name)) {
        throw malformed(streamId, `connection-specific field ${name}`);
      }
      if (name === 'te' && value !== 'trailers') {
        throw malformed(streamId, `te is ${JSON.stringify(value)}; only "trailers" is allowed`);
      }
    }
    if (!isValidFieldValue(value)) {
      throw malformed(streamId, `the value of ${name} has NUL, CR or LF, or blanks at an end`);
    }
    const before = headers[name];
    headers[name] = before === undefined ? value : `${before}, ${value}`;
  }
  checkPseudoHeaders(headers, streamId);
  const contentLength = headers['content-length'];
  if (contentLength !== undefined && !isDigits(contentLength)) {
    throw malformed(streamId, `content-length ${JSON.stringify(contentLength)} is not a number`);
  }
  return headers;
}

/** Trailers from the client: regular fields only, checked like request fields. */
export function checkTrailers(fields: readonly string[], streamId: number): void {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    if (name.charCodeAt(0) === 0x3a || !isValidFieldName(name) || CONNECTION_SPECIFIC.has(name) || !isValidFieldValue(fields[i + 1] as string)) {
      throw malformed(streamId, `trailer field ${JSON.stringify(name)} is not allowed`);
    }
  }
}

function checkPseudoHeaders(headers: Record<string, string>, streamId: number): void {
  const method = headers[':method'];
  if (method === undefined) {
    throw malformed(streamId, ':method is missing');
  }
  if (method === 'CONNECT') {
    if (headers[':scheme'] !== undefined || headers[':path'] !== undefined || headers[':authority'] === undefined) {
      throw malformed(streamId, 'CONNECT takes :authority and neither :scheme nor :path');
    }
    return;
  }
  if (headers[':scheme'] === undefined) {
    throw malformed(streamId, ':scheme is missing');
  }
  const path = headers[':path'];
  if (path === undefined || path.length === 0) {
    throw malformed(streamId, ':path is missing or empty');
  }
}

function isDigits(value: string): boolean {
  if (value.length === 0 || value.length > 15) {
    return false;
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) {
      return false;
    }
  }
  return true;
}
