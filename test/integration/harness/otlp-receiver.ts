/**
 * A real OTLP/HTTP trace receiver for the tests: listens on loopback, accepts
 * `POST /v1/traces` with `application/x-protobuf` bodies (what the OpenTelemetry SDK's
 * http/protobuf exporter, Jaeger and the Collector speak), decodes each
 * ExportTraceServiceRequest from the protobuf wire format, and keeps the spans. Answers an
 * empty ExportTraceServiceResponse (200). Bodies may be gzip-compressed.
 *
 * The decoder reads only the fields the tests look at, by their numbers in
 * opentelemetry/proto/trace/v1/trace.proto (unknown fields are skipped, as protobuf requires):
 *
 *     ExportTraceServiceRequest { 1: repeated ResourceSpans }
 *     ResourceSpans { 1: Resource { 1: repeated KeyValue }, 2: repeated ScopeSpans }
 *     ScopeSpans    { 1: scope, 2: repeated Span }
 *     Span { 1: trace_id, 2: span_id, 4: parent_span_id, 5: name, 6: kind, 7/8: start/end (fixed64 ns),
 *            9: repeated KeyValue attributes, 11: events, 13: repeated Link, 15: Status }
 *     Link { 1: trace_id, 2: span_id, 4: attributes }   Status { 2: message, 3: code }
 *     KeyValue { 1: key, 2: AnyValue { 1: string, 2: bool, 3: int, 4: double } }
 */
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export type AttributeValue = string | number | boolean | bigint;

export interface ReceivedLink {
  readonly traceId: string;
  readonly spanId: string;
}

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** SpanKind as OTLP numbers it: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly links: readonly ReceivedLink[];
  /** Status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly events: readonly string[];
  /** The resource's attributes (service.name...). */
  readonly resource: Readonly<Record<string, AttributeValue>>;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Reads length-delimited sub-messages and scalar fields of one message. */
function fields(bytes: Uint8Array, on: (field: number, reader: BinaryReader, wire: WireType) => boolean): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (!on(field, reader, wire)) reader.skip(wire, field);
  }
}

function anyValue(bytes: Uint8Array): AttributeValue | undefined {
  let value: AttributeValue | undefined;
  fields(bytes, (field, r) => {
    if (field === 1) value = r.string();
    else if (field === 2) value = r.bool();
    else if (field === 3) value = BigInt(r.int64());
    else if (field === 4) value = r.double();
    else return false;
    return true;
  });
  return value;
}

function keyValue(bytes: Uint8Array, into: Record<string, AttributeValue>): void {
  let key = '';
  let value: AttributeValue | undefined;
  fields(bytes, (field, r) => {
    if (field === 1) key = r.string();
    else if (field === 2) value = anyValue(r.bytes());
    else return false;
    return true;
  });
  if (value !== undefined) into[key] = typeof value === 'bigint' && value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
}

function span(bytes: Uint8Array, resource: Record<string, AttributeValue>): ReceivedSpan {
  const s = { traceId: '', spanId: '', parentSpanId: '', name: '', kind: 0, startNs: 0n, endNs: 0n, attributes: {} as Record<string, AttributeValue>, links: [] as ReceivedLink[], statusCode: 0, events: [] as string[], resource };
  fields(bytes, (field, r) => {
    switch (field) {
      case 1: s.traceId = hex(r.bytes()); return true;
      case 2: s.spanId = hex(r.bytes()); return true;
      case 4: s.parentSpanId = hex(r.bytes()); return true;
      case 5: s.name = r.string(); return true;
      case 6: s.kind = r.int32(); return true;
      case 7: s.startNs = BigInt(r.fixed64()); return true;
      case 8: s.endNs = BigInt(r.fixed64()); return true;
      case 9: keyValue(r.bytes(), s.attributes); return true;
      case 11:
        fields(r.bytes(), (f, er) => (f === 2 ? (s.events.push(er.string()), true) : false));
        return true;
      case 13: {
        const link = { traceId: '', spanId: '' };
        fields(r.bytes(), (f, lr) => {
          if (f === 1) link.traceId = hex(lr.bytes());
          else if (f === 2) link.spanId = hex(lr.bytes());
          else return false;
          return true;
        });
        s.links.push(link);
        return true;
      }
      case 15:
        fields(r.bytes(), (f, sr) => (f === 3 ? ((s.statusCode = sr.int32()), true) : false));
        return true;
      default:
        return false;
    }
  });
  return s;
}

/** Decodes one ExportTraceServiceRequest into its spans. */
export function decodeExportTraceRequest(body: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  fields(body, (field, r) => {
    if (field !== 1) return false;
    const resource: Record<string, AttributeValue> = {};
    const scopeSpans: Uint8Array[] = [];
    fields(r.bytes(), (f, rr) => {
      if (f === 1) fields(rr.bytes(), (rf, ar) => (rf === 1 ? (keyValue(ar.bytes(), resource), true) : false));
      else if (f === 2) scopeSpans.push(rr.bytes());
      else return false;
      return true;
    });
    for (const scope of scopeSpans) {
      fields(scope, (f, sr) => (f === 2 ? (spans.push(span(sr.bytes(), resource)), true) : false));
    }
    return true;
  });
  return spans;
}

/** Most request body bytes accepted (a limit on everything). */
const BODY_MAX = 16 * 1024 * 1024;

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Requests that were not a decodable OTLP/protobuf trace export (each a description). */
  readonly rejected: string[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  /** http://127.0.0.1:<port> — what OTEL_EXPORTER_OTLP_ENDPOINT takes (the exporter adds /v1/traces). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OtlpReceiver> {
    const holder: { receiver?: OtlpReceiver } = {};
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= BODY_MAX) chunks.push(c);
      });
      req.on('end', () => {
        const r = holder.receiver as OtlpReceiver;
        try {
          if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`${req.method} ${req.url}`);
          if (!String(req.headers['content-type']).startsWith('application/x-protobuf')) throw new Error(`content-type ${req.headers['content-type']}`);
          if (size > BODY_MAX) throw new Error(`body of ${size} bytes`);
          let body = Buffer.concat(chunks);
          if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
          r.spans.push(...decodeExportTraceRequest(body));
          res.writeHead(200, { 'content-type': 'application/x-protobuf' });
          res.end();
        } catch (error) {
          r.rejected.push(String(error));
          res.writeHead(400);
          res.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const receiver = new OtlpReceiver(server, (server.address() as { port: number }).port);
    holder.receiver = receiver;
    return receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
