import * as fc from 'fast-check';
import { etcd } from '@keyval/proto';
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, frameBytes } from './framing';
import { GrpcStatusError } from './grpc-status.error';
import { GrpcStatus } from './status';

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk, { onFrame: (payload) => out.push(Buffer.from(payload)) });
  }
  return out;
}

function statusOf(action: () => void): GrpcStatus | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return error instanceof GrpcStatusError ? error.code : GrpcStatus.UNKNOWN;
  }
}

describe('encodeFrame', () => {
  it('prefixes the encoded message with flag 0 and its big-endian length', () => {
    const request = etcd.PutRequest.fromPartial({ key: Buffer.from('foo'), value: Buffer.from('bar') });
    const frame = encodeFrame(etcd.PutRequest, request, 1024);
    const body = Buffer.from(etcd.PutRequest.encode(request).finish());
    expect(frame.subarray(0, FRAME_HEADER_BYTES)).toEqual(Buffer.from([0, 0, 0, 0, body.length]));
    expect(frame.subarray(FRAME_HEADER_BYTES)).toEqual(body);
  });

  it('encodes an empty message as a bare prefix', () => {
    expect(encodeFrame(etcd.StatusRequest, {}, 0)).toEqual(Buffer.from([0, 0, 0, 0, 0]));
  });

  it('refuses a message over the send limit with RESOURCE_EXHAUSTED', () => {
    const request = etcd.PutRequest.fromPartial({ value: Buffer.alloc(100) });
    expect(statusOf(() => encodeFrame(etcd.PutRequest, request, 50))).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it('stays usable after a codec throws midway', () => {
    expect(() => encodeFrame(etcd.Member, etcd.Member.fromPartial({ name: 'x', ID: 2n ** 64n }), 1024)).toThrow(/too large/);
    const frame = encodeFrame(etcd.Member, etcd.Member.fromPartial({ ID: 1n }), 1024);
    expect(etcd.Member.decode(frame.subarray(FRAME_HEADER_BYTES))).toEqual(etcd.Member.fromPartial({ ID: 1n }));
  });
});

describe('FrameDecoder', () => {
  it('yields several messages from one chunk, empty ones included', () => {
    const chunk = Buffer.concat([frameBytes(Buffer.from('a')), frameBytes(Buffer.alloc(0)), frameBytes(Buffer.from('bcd'))]);
    expect(decodeAll(new FrameDecoder(10), [chunk]).map(String)).toEqual(['a', '', 'bcd']);
  });

  it('assembles a message split byte by byte, prefix included', () => {
    const whole = frameBytes(Buffer.from('hello world'));
    const decoder = new FrameDecoder(100);
    const out = decodeAll(
      decoder,
      [...whole].map((byte) => Buffer.from([byte])),
    );
    expect(out.map(String)).toEqual(['hello world']);
    expect(decoder.midMessage).toBe(false);
  });

  it('knows when a stream was cut mid-message', () => {
    const decoder = new FrameDecoder(100);
    decodeAll(decoder, [frameBytes(Buffer.from('hello')).subarray(0, 7)]);
    expect(decoder.midMessage).toBe(true);
    const headerOnly = new FrameDecoder(100);
    decodeAll(headerOnly, [Buffer.from([0, 0])]);
    expect(headerOnly.midMessage).toBe(true);
  });

  it('refuses compressed messages with UNIMPLEMENTED', () => {
    expect(statusOf(() => new FrameDecoder(100).push(Buffer.from([1, 0, 0, 0, 1, 7]), { onFrame: () => undefined }))).toBe(
      GrpcStatus.UNIMPLEMENTED,
    );
  });

  it('refuses an unknown flag with INTERNAL', () => {
    expect(statusOf(() => new FrameDecoder(100).push(Buffer.from([2, 0, 0, 0, 0]), { onFrame: () => undefined }))).toBe(
      GrpcStatus.INTERNAL,
    );
  });

  it('refuses a message over the limit from its prefix, before buffering it', () => {
    const decoder = new FrameDecoder(1000);
    expect(statusOf(() => decoder.push(Buffer.from([0, 0, 0, 0x03, 0xe9]), { onFrame: () => undefined }))).toBe(
      GrpcStatus.RESOURCE_EXHAUSTED,
    );
    expect(statusOf(() => new FrameDecoder(1000).push(Buffer.from([0, 0xff, 0xff, 0xff, 0xff]), { onFrame: () => undefined }))).toBe(
      GrpcStatus.RESOURCE_EXHAUSTED,
    );
    expect(decodeAll(new FrameDecoder(1000), [frameBytes(Buffer.alloc(1000))])).toHaveLength(1);
  });

  it('yields the same messages however the bytes are cut (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, cuts) => {
          const whole = Buffer.concat(messages.map((m) => frameBytes(m)));
          const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let from = 0;
          for (const point of [...points, whole.length]) {
            chunks.push(whole.subarray(from, point));
            from = point;
          }
          const decoder = new FrameDecoder(300);
          expect(decodeAll(decoder, chunks)).toEqual(messages.map((m) => Buffer.from(m)));
          expect(decoder.midMessage).toBe(false);
        },
      ),
    );
  });
});
