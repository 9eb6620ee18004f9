/**
 * etcd's JSON API (its grpc-gateway) on a client port's HTTP/1.1 side: `POST /v3/kv/range`
 * and the other paths below (also under `/v3beta/`, as etcd 3.4), each the gRPC method of the
 * same name called in-process with the request body as proto3 JSON — field names as in the
 * .proto files (`range_end`, `TTL`), 64-bit integers as strings, bytes in base64, default
 * values left out — and its answer in the same form. Watch and lease keepalive stream their
 * answers, one `{"result": …}` object per line, until the client goes.
 *
 *     POST /v3/kv/put {"key":"Zm9v","value":"YmFy"} ─► JSON → etcdserverpb.PutRequest
 *          ─► the handler of KV/Put (a member's service, or the gateway's raw relay) ─► PutResponse
 *          ─► {"header":{…,"revision":"2"}}
 *     failure ─► HTTP status of the gRPC code, {"error": text, "message": text, "code": code}
 *
 * One translation for both servers: a member adds its services, the gateway its raw (bytes in,
 * bytes out) relays of the same services — the codecs of the method definitions turn the
 * decoded message into what the handler takes, so the gateway's calls keep its routing,
 * retries, limits and metrics.
 */
import type * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson } from '@bufbuild/protobuf';
import type { DescMessage, JsonValue, Registry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { BinaryWriter, FILE_DESCRIPTOR_SET_BASE64 } from '@keyval/proto';
import { GrpcStatusError, withOutcomeTrailers } from './grpc-status.error';
import { Metadata } from './metadata';
import type { AnyHandler, MethodDefinition, ServerCall, ServiceDefinition } from './method';
import type { GrpcMethodObserver, GrpcServerObserver } from './server-observer';
import { JSON_API_HTTP_STATUS, JSON_API_PATHS, JSON_API_PREFIXES, streamErrorLine } from './json-api-paths';
import { GrpcStatus } from './status';

/** Limits and hooks of a JsonApi. */
export interface JsonApiOptions {
  /** Most bytes of a request body (the client port's gRPC message limit). */
  readonly maxBodyBytes: number;
  /** Deadline of a unary call, ms (the server's request timeout). */
  readonly requestTimeoutMs: number;
  /**
   * Hears about every call as the gRPC server's observer does (the same `grpc_server_*`
   * families and labels: a JSON call counts as the gRPC method it calls). Default: none.
   */
  readonly observer?: GrpcServerObserver;
}

interface Target {
  readonly method: MethodDefinition;
  readonly handler: AnyHandler;
  readonly input: DescMessage;
  readonly output: DescMessage;
  readonly observer: GrpcMethodObserver | undefined;
}

type JsonCall = ServerCall & { write(message: unknown): Promise<void> };

let registry: Registry | undefined;

/** The descriptors of every message in proto/ (decoded once). */
function messages(): Registry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(FILE_DESCRIPTOR_SET_BASE64, 'base64')));
  return registry;
}

/**
 * Serves the JSON paths of the services added to it. `handles` tells the paths it answers
 * from the rest of the port's HTTP side; `handle` answers one request. Answers as etcd 3.4's
 * gateway does, errors included (see `handle`).
 */
export class JsonApi {
  private readonly targets = new Map<string, Target>();

  constructor(private readonly options: JsonApiOptions) {}

  /**
   * Serves the JSON paths of `service`'s methods with `implementation` (as `GrpcServer.addService`).
   * The method definitions' codecs sit between the JSON and the handlers: generated ones hand
   * the handler a decoded message, raw ones (the gateway's) its bytes.
   */
  addService(service: ServiceDefinition, implementation: Readonly<Record<string, unknown>>): void {
    const file = messages();
    const serviceDesc = file.getService(service.fullName);
    for (const [key, method] of Object.entries(service.methods)) {
      const grpcPath = `/${service.fullName}/${method.name}`;
      const handler = implementation[key] as AnyHandler | undefined;
      const methodDesc = serviceDesc?.methods.find((m) => m.name === method.name);
      if (handler !== undefined && methodDesc !== undefined && Object.values(JSON_API_PATHS).includes(grpcPath)) {
        const observer = this.options.observer?.method(service.fullName, method);
        this.targets.set(grpcPath, { method, handler, input: methodDesc.input, output: methodDesc.output, observer });
      }
    }
  }

  /** The gRPC method an HTTP path names, or undefined when it is not a JSON API path. */
  pathOf(urlPath: string): string | undefined {
    for (const prefix of JSON_API_PREFIXES) {
      if (urlPath.startsWith(prefix)) {
        return JSON_API_PATHS[urlPath.slice(prefix.length)];
      }
    }
    return undefined;
  }

  /** True for the paths this API answers (the rest of the port's HTTP side answers the others). */
  handles(urlPath: string): boolean {
    // etcd 3.4 no longer serves /v3alpha/: answered 404 as etcd does.
    return [...JSON_API_PREFIXES, '/v3alpha/'].some((prefix) => urlPath.startsWith(prefix));
  }

  /**
   * Answers one HTTP request on a JSON API path, as etcd 3.4's gateway: a unary failure is
   * `{"error","message","code"}` with the HTTP status of the gRPC code (and the outcome
   * trailers as `Grpc-Trailer-*` headers); a stream whose first request does not parse is
   * refused 500 UNKNOWN, a later request that does not parse ends the requests (not the
   * stream); a stream that fails is ended by one `{"error":{"grpc_code",…}}` object without a
   * newline, after the lines already sent or alone with the HTTP status of the code.
   */
  handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const urlPath = (request.url ?? '/').split('?')[0] ?? '/';
    const grpcPath = this.pathOf(urlPath);
    const target = grpcPath === undefined ? undefined : this.targets.get(grpcPath);
    if (grpcPath !== undefined && target === undefined) {
      // A path of etcd's API whose service this server does not serve (Auth): as over gRPC.
      request.resume();
      fail(response, new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, `method ${grpcPath} is not implemented by this server`));
      return;
    }
    if (target === undefined) {
      // As etcd: its gateway's "Not Found" under /v3/ and /v3beta/, its HTTP mux's elsewhere.
      request.resume();
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(JSON_API_PREFIXES.some((prefix) => urlPath.startsWith(prefix)) ? 'Not Found\n' : '404 page not found\n');
      return;
    }
    if (request.method !== 'POST') {
      request.resume();
      response.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'POST' }).end('Method Not Allowed\n');
      return;
    }
    target.observer?.started();
    const startedAt = performance.now();
    this.serve(target, grpcPath as string, request, response).then(
      () => target.observer?.handled(GrpcStatus.OK, performance.now() - startedAt),
      (error: unknown) => {
        const status = asStatus(error);
        target.observer?.handled(status.code, performance.now() - startedAt);
        if (!response.headersSent) fail(response, status);
        else response.destroy();
      },
    );
  }

  private async serve(target: Target, grpcPath: string, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const body = await readBody(request, this.options.maxBodyBytes);
    const stop = new AbortController();
    response.once('close', () => stop.abort(new GrpcStatusError(GrpcStatus.CANCELLED, 'the HTTP client went')));
    const streaming = target.method.responseStream;
    const call: JsonCall = {
      path: grpcPath,
      peer: `${request.socket.remoteAddress ?? ''}:${request.socket.remotePort ?? ''}`,
      metadata: new Metadata(),
      deadline: streaming ? undefined : Date.now() + this.options.requestTimeoutMs,
      signal: stop.signal,
      setHeader: () => undefined,
      setTrailer: () => undefined,
      write: async (message: unknown): Promise<void> => {
        if (!response.headersSent) response.writeHead(200, { 'content-type': 'application/json' });
        const line = `${JSON.stringify({ result: this.toJsonValue(target, message) })}\n`;
        if (!response.write(line)) await new Promise<void>((resolve) => response.once('drain', resolve));
      },
    };
    if (target.method.requestStream) {
      const requests = this.openRequests(target, body, stop.signal);
      await this.streamed(response, () => (target.handler as (r: AsyncIterable<unknown>, c: JsonCall) => Promise<void>)(requests, call));
      return;
    }
    const [json] = parseJsonObjects(body);
    const single = this.decode(target, json ?? {});
    if (streaming) {
      await this.streamed(response, () => (target.handler as (r: unknown, c: JsonCall) => Promise<void>)(single, call));
      return;
    }
    const answer = await (target.handler as (r: unknown, c: ServerCall) => unknown)(single, call);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.toJsonValue(target, answer)));
  }

  /**
   * A request stream's messages: the body's objects, then open until the client goes (etcd's
   * gateway does not end a watch when the request body ends). The first object must decode
   * (else the call is refused UNKNOWN, as etcd's gateway refuses it); the requests end before
   * the first later one that does not (as etcd's gateway stops sending at a decoding error).
   */
  private openRequests(target: Target, body: string, stop: AbortSignal): AsyncIterable<unknown> {
    const { values, error } = readJsonObjects(body);
    const requests: unknown[] = [];
    let refused = error;
    for (const json of values) {
      try {
        requests.push(this.decode(target, json));
      } catch (decodeError) {
        refused = asStatus(decodeError);
        break;
      }
    }
    if (requests.length === 0 && refused !== undefined) throw new GrpcStatusError(GrpcStatus.UNKNOWN, refused.details);
    return (async function* () {
      yield* requests;
      await new Promise<void>((resolve) => (stop.aborted ? resolve() : stop.addEventListener('abort', () => resolve(), { once: true })));
    })();
  }

  /**
   * A streamed answer. A failure is one `{"error": …}` object, with no newline after it, as
   * etcd's gateway writes it: after the lines already sent, or alone with the HTTP status of
   * its code when none was.
   */
  private async streamed(response: http.ServerResponse, run: () => Promise<void>): Promise<void> {
    try {
      await run();
      if (!response.headersSent) response.writeHead(200, { 'content-type': 'application/json' });
      response.end();
    } catch (error) {
      const status = asStatus(error);
      const httpStatus = JSON_API_HTTP_STATUS[status.code] ?? 500;
      if (!response.headersSent) response.writeHead(httpStatus, { 'content-type': 'application/json' });
      response.end(streamErrorLine(status.code, status.details));
    }
  }

  private decode(target: Target, json: JsonValue): unknown {
    let bytes: Uint8Array;
    try {
      bytes = toBinary(target.input, fromJson(target.input, json));
    } catch (error) {
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, error instanceof Error ? error.message : String(error));
    }
    return target.method.requestType.decode(bytes);
  }

  private toJsonValue(target: Target, message: unknown): JsonValue {
    const bytes = target.method.responseType.encode(message, new BinaryWriter()).finish();
    return toJson(target.output, fromBinary(target.output, bytes), { useProtoFieldName: true });
  }
}

/** The request body, refused past `limit` bytes (RESOURCE_EXHAUSTED, as a gRPC message past the limit). */
function readBody(request: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        reject(new GrpcStatusError(GrpcStatus.RESOURCE_EXHAUSTED, `the request body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
}

/**
 * The JSON values of a body: none for an empty body, else one or more objects one after the
 * other (a streamed call's requests), as Go's json.Decoder reads them. Throws INVALID_ARGUMENT
 * on the first thing that does not parse.
 */
export function parseJsonObjects(body: string): JsonValue[] {
  const { values, error } = readJsonObjects(body);
  if (error !== undefined) throw error;
  return values;
}

/** The objects of `body` up to the first thing that does not parse, and that failure (INVALID_ARGUMENT). */
function readJsonObjects(body: string): { values: JsonValue[]; error?: GrpcStatusError } {
  const values: JsonValue[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) {
        const parsed = parseJson(body.slice(start, i + 1));
        if (parsed instanceof GrpcStatusError) return { values, error: parsed };
        values.push(parsed);
      }
    } else if (depth === 0 && !/\s/.test(c as string)) {
      return { values, error: new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `invalid character '${c as string}' looking for beginning of value`) };
    }
  }
  if (depth !== 0 || inString) return { values, error: new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, 'unexpected EOF') };
  return { values };
}

function parseJson(text: string): JsonValue | GrpcStatusError {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    return new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, error instanceof Error ? error.message : String(error));
  }
}

function asStatus(error: unknown): GrpcStatusError {
  return error instanceof GrpcStatusError ? error : new GrpcStatusError(GrpcStatus.UNKNOWN, error instanceof Error ? error.message : String(error));
}


/**
 * A unary error answer as etcd's gateway writes it; the status's trailers (KeyVal's outcome
 * and reason, a leader hint) as `Grpc-Trailer-*` headers, as grpc-gateway passes trailers on.
 */
function fail(response: http.ServerResponse, status: GrpcStatusError): void {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [key, value] of Object.entries(withOutcomeTrailers(status).metadata)) {
    if (typeof value === 'string') headers[`grpc-trailer-${key}`] = value;
  }
  response.writeHead(JSON_API_HTTP_STATUS[status.code] ?? 500, headers).end(JSON.stringify({ error: status.details, message: status.details, code: status.code }));
}
