/**
 * etcd's JSON API (its grpc-gateway) on the client port's HTTP/1.1 side: `POST /v3/kv/range`
 * and the other paths below (also under `/v3beta/`, as etcd 3.4), each the gRPC method of the
 * same name called in-process with the request body as proto3 JSON — field names as in the
 * .proto files (`range_end`, `TTL`), 64-bit integers as strings, bytes in base64, default
 * values left out — and its answer in the same form. Watch and lease keepalive stream their
 * answers, one `{"result": …}` object per line, until the client goes.
 *
 *     POST /v3/kv/put {"key":"Zm9v","value":"YmFy"} ─► JSON → etcdserverpb.PutRequest
 *          ─► the KV service's put handler ─► PutResponse ─► {"header":{…,"revision":"2"}}
 *     failure ─► HTTP status of the gRPC code, {"error": text, "message": text, "code": code}
 */
import type * as http from 'node:http';
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson } from '@bufbuild/protobuf';
import type { DescMessage, JsonValue, Registry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { GrpcStatus, GrpcStatusError, Metadata } from '@keyval/grpc';
import type { AnyHandler, MethodDefinition, ServerCall, ServiceDefinition } from '@keyval/grpc';
import { BinaryWriter, FILE_DESCRIPTOR_SET_BASE64 } from '@keyval/proto';

/** The paths served, under `/v3/` and `/v3beta/`, and the gRPC method each calls. */
export const JSON_API_PATHS: Readonly<Record<string, string>> = {
  'kv/range': '/etcdserverpb.KV/Range',
  'kv/put': '/etcdserverpb.KV/Put',
  'kv/deleterange': '/etcdserverpb.KV/DeleteRange',
  'kv/txn': '/etcdserverpb.KV/Txn',
  'kv/compaction': '/etcdserverpb.KV/Compact',
  watch: '/etcdserverpb.Watch/Watch',
  'lease/grant': '/etcdserverpb.Lease/LeaseGrant',
  'lease/revoke': '/etcdserverpb.Lease/LeaseRevoke',
  'kv/lease/revoke': '/etcdserverpb.Lease/LeaseRevoke',
  'lease/keepalive': '/etcdserverpb.Lease/LeaseKeepAlive',
  'lease/timetolive': '/etcdserverpb.Lease/LeaseTimeToLive',
  'kv/lease/timetolive': '/etcdserverpb.Lease/LeaseTimeToLive',
  'lease/leases': '/etcdserverpb.Lease/LeaseLeases',
  'kv/lease/leases': '/etcdserverpb.Lease/LeaseLeases',
  'maintenance/status': '/etcdserverpb.Maintenance/Status',
  'lock/lock': '/v3lockpb.Lock/Lock',
  'lock/unlock': '/v3lockpb.Lock/Unlock',
  'election/campaign': '/v3electionpb.Election/Campaign',
  'election/proclaim': '/v3electionpb.Election/Proclaim',
  'election/leader': '/v3electionpb.Election/Leader',
  'election/observe': '/v3electionpb.Election/Observe',
  'election/resign': '/v3electionpb.Election/Resign',
};

/** The versions etcd 3.4 serves its JSON API under. */
const PREFIXES = ['/v3/', '/v3beta/'];

/** HTTP statuses of gRPC codes, as etcd's grpc-gateway (v1) maps them. */
const HTTP_STATUS: Readonly<Record<number, number>> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 408,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 412,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

export interface JsonApiOptions {
  /** Most bytes of a request body (the client port's gRPC message limit). */
  readonly maxBodyBytes: number;
  /** Deadline of a unary call, ms (the member's request timeout). */
  readonly requestTimeoutMs: number;
}

interface Target {
  readonly method: MethodDefinition;
  readonly handler: AnyHandler;
  readonly input: DescMessage;
  readonly output: DescMessage;
}

let registry: Registry | undefined;

/** The descriptors of every message in proto/ (decoded once). */
function messages(): Registry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(FILE_DESCRIPTOR_SET_BASE64, 'base64')));
  return registry;
}


export class JsonApi {
  private readonly targets = new Map<string, Target>();

  constructor(private readonly options: JsonApiOptions) {}

  /** Serves the JSON paths of `service`'s methods with `implementation` (as `GrpcServer.addService`). */
  addService(service: ServiceDefinition, implementation: Readonly<Record<string, unknown>>): void {
    const file = messages();
    const serviceDesc = file.getService(service.fullName);
    for (const [key, method] of Object.entries(service.methods)) {
      const grpcPath = `/${service.fullName}/${method.name}`;
      const handler = implementation[key] as AnyHandler | undefined;
      const methodDesc = serviceDesc?.methods.find((m) => m.name === method.name);
      if (handler !== undefined && methodDesc !== undefined && Object.values(JSON_API_PATHS).includes(grpcPath)) {
        this.targets.set(grpcPath, { method, handler, input: methodDesc.input, output: methodDesc.output });
      }
    }
  }

  /** The gRPC method an HTTP path names, or undefined when it is not a JSON API path. */
  pathOf(urlPath: string): string | undefined {
    for (const prefix of PREFIXES) {
      if (urlPath.startsWith(prefix)) {
        return JSON_API_PATHS[urlPath.slice(prefix.length)];
      }
    }
    return undefined;
  }

  /** True for the paths this API answers (the rest of the port's HTTP side answers the others). */
  handles(urlPath: string): boolean {
    // etcd 3.4 no longer serves /v3alpha/: answered 404 as etcd does.
    return [...PREFIXES, '/v3alpha/'].some((prefix) => urlPath.startsWith(prefix));
  }

  /** Answers one HTTP request on a JSON API path. */
  handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const urlPath = (request.url ?? '/').split('?')[0] ?? '/';
    const grpcPath = this.pathOf(urlPath);
    const target = grpcPath === undefined ? undefined : this.targets.get(grpcPath);
    if (target === undefined) {
      // As etcd: its gateway's "Not Found" under /v3/ and /v3beta/, its HTTP mux's elsewhere.
      request.resume();
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(PREFIXES.some((prefix) => urlPath.startsWith(prefix)) ? 'Not Found\n' : '404 page not found\n');
      return;
    }
    if (request.method !== 'POST') {
      request.resume();
      response.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'POST' }).end('Method Not Allowed\n');
      return;
    }
    void this.serve(target, grpcPath as string, request, response).catch((error: unknown) => {
      if (!response.headersSent) fail(response, error);
      else response.destroy();
    });
  }

  private async serve(target: Target, grpcPath: string, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const body = await readBody(request, this.options.maxBodyBytes);
    const stop = new AbortController();
    response.once('close', () => stop.abort(new GrpcStatusError(GrpcStatus.CANCELLED, 'the HTTP client went')));
    const streaming = target.method.responseStream;
    const call = {
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
    } satisfies ServerCall & { write(message: unknown): Promise<void> };
    const requests = parseJsonObjects(body).map((json) => this.decode(target, json));
    if (target.method.requestStream) {
      // The requests are the body's objects; the stream then stays open until the client goes
      // (etcd's gateway does not end a watch when the request body ends).
      const open = (async function* () {
        yield* requests;
        await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      })();
      await this.streamed(response, () => (target.handler as (r: AsyncIterable<unknown>, c: typeof call) => Promise<void>)(open, call));
      return;
    }
    const single = requests.length === 0 ? this.decode(target, {}) : requests[0];
    if (streaming) {
      await this.streamed(response, () => (target.handler as (r: unknown, c: typeof call) => Promise<void>)(single, call));
      return;
    }
    const answer = await (target.handler as (r: unknown, c: ServerCall) => unknown)(single, call);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.toJsonValue(target, answer)));
  }

  /** A streamed answer: a failure after the first line becomes an `{"error": …}` line, as etcd's gateway writes it. */
  private async streamed(response: http.ServerResponse, run: () => Promise<void>): Promise<void> {
    try {
      await run();
      if (!response.headersSent) response.writeHead(200, { 'content-type': 'application/json' });
      response.end();
    } catch (error) {
      if (!response.headersSent) throw error;
      const status = asStatus(error);
      const httpStatus = HTTP_STATUS[status.code] ?? 500;
      response.end(`${JSON.stringify({ error: { grpc_code: status.code, http_code: httpStatus, message: status.details, http_status: httpStatusText(httpStatus) } })}\n`);
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
 * other (a streamed call's requests), as Go's json.Decoder reads them.
 */
export function parseJsonObjects(body: string): JsonValue[] {
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
      if (depth === 0) values.push(parseJson(body.slice(start, i + 1)));
    } else if (depth === 0 && !/\s/.test(c as string)) {
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `invalid character '${c as string}' looking for beginning of value`);
    }
  }
  if (depth !== 0 || inString) throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, 'unexpected EOF');
  return values;
}

function parseJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, error instanceof Error ? error.message : String(error));
  }
}

function asStatus(error: unknown): GrpcStatusError {
  return error instanceof GrpcStatusError ? error : new GrpcStatusError(GrpcStatus.UNKNOWN, error instanceof Error ? error.message : String(error));
}

function httpStatusText(status: number): string {
  return { 400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 412: 'Precondition Failed', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Gateway Timeout' }[status] ?? String(status);
}

/** An error answer as etcd's gateway writes it. */
function fail(response: http.ServerResponse, error: unknown): void {
  const status = asStatus(error);
  response.writeHead(HTTP_STATUS[status.code] ?? 500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: status.details, message: status.details, code: status.code }));
}
