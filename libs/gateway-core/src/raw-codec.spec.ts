/** Raw passthrough codecs and the serializable flag read from undecoded Range requests. */
import fc from 'fast-check';
import { encodeFrame } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { RAW_CODEC, rangeIsSerializable, rawService } from './raw-codec';

describe('raw codecs', () => {
  it('frames bytes unchanged and decodes to a copy', () => {
    const bytes = Buffer.from(etcd.PutRequest.encode(etcd.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') })).finish());
    const frame = encodeFrame(RAW_CODEC, bytes, 1 << 20);
    expect(frame.subarray(5)).toEqual(bytes);
    const view = new Uint8Array(bytes);
    const decoded = RAW_CODEC.decode(view);
    view[0] = 0;
    expect(decoded).toEqual(bytes);
  });

  it('keeps every method of a service, its name and streaming shape', () => {
    const raw = rawService(etcd.MaintenanceDefinition);
    expect(raw.fullName).toBe('etcdserverpb.Maintenance');
    expect(Object.keys(raw.methods)).toEqual(Object.keys(etcd.MaintenanceDefinition.methods));
    expect(raw.methods.snapshot.responseStream).toBe(true);
    expect(raw.methods.status.requestType).toBe(RAW_CODEC);
  });
});

describe('rangeIsSerializable', () => {
  it('agrees with the decoded request for any Range request', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), fc.boolean(), fc.bigInt({ min: 0n, max: 1n << 40n }), fc.boolean(), (k, end, serializable, limit, keysOnly) => {
        const request = etcd.RangeRequest.fromPartial({ key: Buffer.from(k), rangeEnd: Buffer.from(end), serializable, limit, keysOnly, countOnly: true, minModRevision: 3n });
        expect(rangeIsSerializable(etcd.RangeRequest.encode(request).finish())).toBe(serializable);
      }),
    );
  });

  it('throws on bytes that are not protobuf', () => {
    expect(() => rangeIsSerializable(Uint8Array.from([0x0a, 0x05, 0x01]))).toThrow();
  });
});
