import { GrpcStatus, GrpcStatusError } from './index';
import { parseJsonObjects } from './json-api';
import { streamErrorLine } from './json-api-paths';

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

describe('streamErrorLine (the object that ends a failed stream)', () => {
  it('is etcd 3.4\'s, byte for byte, without a newline (as a live etcd 3.4.23 wrote it when stopped under a watch)', () => {
    expect(streamErrorLine(GrpcStatus.UNAVAILABLE, 'transport is closing')).toBe(
      '{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}}',
    );
    expect(JSON.parse(streamErrorLine(GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'))).toEqual({
      error: { grpc_code: 11, http_code: 400, message: 'etcdserver: mvcc: required revision has been compacted', http_status: 'Bad Request' },
    });
  });
});
