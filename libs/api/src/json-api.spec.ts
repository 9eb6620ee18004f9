import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { parseJsonObjects } from './json-api';
import { queuePrefix, queueRange, waiterKey } from './concurrency/queue-keys';

describe('parseJsonObjects (the JSON API request bodies)', () => {
  it('reads none, one, or several objects one after another, strings with braces and escapes included', () => {
    expect(parseJsonObjects('')).toEqual([]);
    expect(parseJsonObjects(' {"key":"YQ=="} ')).toEqual([{ key: 'YQ==' }]);
    expect(parseJsonObjects('{"a":"}{\\""}\n{"b":[1,{"c":2}]}')).toEqual([{ a: '}{"' }, { b: [1, { c: 2 }] }]);
  });

  it('refuses a cut body and stray characters with INVALID_ARGUMENT, as etcd\'s gateway', () => {
    const code = (body: string): unknown => {
      try {
        parseJsonObjects(body);
        return 'parsed';
      } catch (error) {
        return error instanceof GrpcStatusError ? [error.code, error.details] : error;
      }
    };
    expect(code('{"key":"bad')).toEqual([GrpcStatus.INVALID_ARGUMENT, 'unexpected EOF']);
    expect(code('x{}')).toEqual([GrpcStatus.INVALID_ARGUMENT, "invalid character 'x' looking for beginning of value"]);
  });
});

describe('the lock and election queue keys', () => {
  it('names a waiter <name>/<lease hex> and ranges over the prefix without changing it', () => {
    const prefix = queuePrefix(Buffer.from('locks/a'));
    expect(waiterKey(prefix, 0x694d7d9a1c0e1a04n).toString()).toBe('locks/a/694d7d9a1c0e1a04');
    const range = queueRange(prefix, 'first');
    expect(Buffer.from(range.rangeEnd).toString()).toBe('locks/a0');
    // prefixRangeEnd bumps a slice of its argument; a Buffer's slice is a view: the prefix must stay.
    expect(prefix.toString()).toBe('locks/a/');
    expect(queueRange(prefix, 'last', 7n)).toMatchObject({ limit: 1n, maxCreateRevision: 7n });
  });
});
