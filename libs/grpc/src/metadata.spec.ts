import * as fc from 'fast-check';
import { decodeGrpcMessage, encodeGrpcMessage, Metadata, METADATA_ENTRIES_MAX } from './metadata';

describe('Metadata', () => {
  it('reads custom headers, skipping reserved ones, and decodes -bin values', () => {
    const metadata = Metadata.fromHeaders({
      ':path': '/x.Y/Z',
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': '1S',
      'client-id': 'c-1',
      'trace-bin': Buffer.from([0, 1, 255]).toString('base64'),
    });
    expect(metadata.keys().sort()).toEqual(['client-id', 'trace-bin']);
    expect(metadata.get('client-id')).toBe('c-1');
    expect(metadata.getBinary('trace-bin')).toEqual(Buffer.from([0, 1, 255]));
    expect(metadata.get('trace-bin')).toBeUndefined();
  });

  it('writes repeated values joined and bytes as base64', () => {
    const metadata = new Metadata().add('a', '1').add('a', '2').add('b-bin', Buffer.from('hi'));
    expect(metadata.writeTo({})).toEqual({ a: '1,2', 'b-bin': Buffer.from('hi').toString('base64') });
    expect(metadata.size).toBe(3);
    metadata.set('a', '3');
    expect(metadata.getAll('a')).toEqual(['3']);
    expect(metadata.size).toBe(2);
  });

  it('refuses malformed keys, reserved keys and mismatched values', () => {
    expect(() => new Metadata().add('Upper', 'x')).toThrow(TypeError);
    expect(() => new Metadata().add('grpc-status', '0')).toThrow(/reserved/);
    expect(() => new Metadata().add('x-bin', 'text')).toThrow(/Buffer/);
    expect(() => new Metadata().add('x', Buffer.from('a'))).toThrow(/string/);
    expect(() => new Metadata().add('x', 'line\nbreak')).toThrow(/ASCII/);
  });

  it('holds at most METADATA_ENTRIES_MAX entries', () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < METADATA_ENTRIES_MAX + 10; i++) {
      headers[`k${i}`] = 'v';
    }
    expect(Metadata.fromHeaders(headers).size).toBe(METADATA_ENTRIES_MAX);
    const metadata = new Metadata();
    for (let i = 0; i < METADATA_ENTRIES_MAX; i++) {
      metadata.add(`k${i}`, 'v');
    }
    expect(() => metadata.add('one-more', 'v')).toThrow(RangeError);
  });
});

describe('grpc-message percent-encoding', () => {
  it('leaves printable ASCII alone but for %', () => {
    expect(encodeGrpcMessage('key "a" too long: 5 > 4')).toBe('key "a" too long: 5 > 4');
    expect(encodeGrpcMessage('100%')).toBe('100%25');
  });

  it('encodes UTF-8 bytes and control characters', () => {
    expect(encodeGrpcMessage('é\n')).toBe('%C3%A9%0A');
  });

  it('keeps malformed escapes as they are', () => {
    expect(decodeGrpcMessage('50%ZZ%4')).toBe('50%ZZ%4');
  });

  it('round-trips any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        const encoded = encodeGrpcMessage(text);
        expect(/^[\x20-\x7e]*$/.test(encoded)).toBe(true);
        expect(decodeGrpcMessage(encoded)).toBe(text);
      }),
    );
  });
});
