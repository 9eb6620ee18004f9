import fc from 'fast-check';
import type { Command } from '../command-types';
import { CommandLimitError, MalformedCommandError, commandErrorFromCode, KeyNotFoundError } from '../errors';
import type { RequestOp, TxnRequest } from '../kv-types';
import { DEFAULT_LIMITS, resolveLimits } from '../limits';
import { arbCommand } from '../testing/arbitraries.test';
import { b } from '../testing/log-builder.test';
import { decodeCommand, encodeCommand } from './command-codec';
import { decodeOutcome, encodeOutcome } from './outcome-codec';

const fail = (message: string): Error => new Error(message);

describe('command codec', () => {
  it('round-trips every command exactly, and encodes deterministically', () => {
    fc.assert(
      fc.property(arbCommand, (command) => {
        const bytes = encodeCommand(command);
        expect(decodeCommand(bytes, DEFAULT_LIMITS)).toEqual(command);
        expect(Buffer.from(encodeCommand(command)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects every truncation and trailing garbage with MalformedCommandError', () => {
    fc.assert(
      fc.property(arbCommand, fc.nat(), (command, cut) => {
        const bytes = encodeCommand(command);
        expect(() => decodeCommand(bytes.slice(0, cut % bytes.byteLength), DEFAULT_LIMITS)).toThrow(MalformedCommandError);
        expect(() => decodeCommand(Buffer.concat([bytes, Uint8Array.of(0)]), DEFAULT_LIMITS)).toThrow(MalformedCommandError);
      }),
      { numRuns: 200 },
    );
  });

  it('decodes random bytes to a command or a named rejection, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeCommand(Uint8Array.of(1, ...bytes), DEFAULT_LIMITS);
        } catch (error) {
          expect(error instanceof MalformedCommandError || error instanceof CommandLimitError).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('enforces the apply limits: key and value size, txn ops, nesting depth, command size', () => {
    const limits = resolveLimits({ maxKeyBytes: 4, maxValueBytes: 8, maxTxnOps: 2, maxTxnDepth: 2, maxCommandBytes: 200 });
    const put = (key: string, value = ''): Command => ({ timestampMs: 0, op: { type: 'put', request: { key: b(key), value: b(value) } } });
    expect(() => decodeCommand(encodeCommand(put('abcde')), limits)).toThrow(/key size \(bytes\) is 5, over the limit of 4/);
    expect(() => decodeCommand(encodeCommand(put('a', '123456789')), limits)).toThrow(CommandLimitError);
    const op: RequestOp = { type: 'put', request: { key: b('k'), value: b('') } };
    const txn = (request: TxnRequest): Command => ({ timestampMs: 0, op: { type: 'txn', request } });
    expect(() => decodeCommand(encodeCommand(txn({ compare: [], success: [op, op, op], failure: [] })), limits)).toThrow(/number of txn success ops is 3/);
    const nested = (depth: number): TxnRequest => ({ compare: [], success: depth > 1 ? [{ type: 'txn', request: nested(depth - 1) }] : [], failure: [] });
    expect(decodeCommand(encodeCommand(txn(nested(2))), limits)).toEqual(txn(nested(2)));
    expect(() => decodeCommand(encodeCommand(txn(nested(3))), limits)).toThrow(/txn nesting depth is 3/);
    expect(() => decodeCommand(encodeCommand(put('a', 'x'.repeat(8))), resolveLimits({ maxCommandBytes: 10 }))).toThrow(/command size/);
  });

  it('refuses to encode what no member could apply', () => {
    expect(() => encodeCommand({ timestampMs: 0, op: { type: 'noop' }, session: { clientId: 1n, seq: 1 } })).toThrow(TypeError);
    expect(() => encodeCommand({ timestampMs: 0, op: { type: 'put', request: { key: b('k'), value: b('') } }, session: { clientId: 1n, seq: 0 } })).toThrow(RangeError);
    expect(() => encodeCommand({ timestampMs: 0, op: { type: 'put', request: { key: b('k'), value: b('') } }, session: { clientId: '', seq: 1 } })).toThrow(RangeError);
    expect(() => encodeCommand({ timestampMs: -1, op: { type: 'noop' } })).toThrow(RangeError);
  });
});

describe('outcome codec', () => {
  it('round-trips responses and rejections', () => {
    const kv = { key: b('k'), createRevision: 2, modRevision: 5, version: 3, value: b('v') };
    const outcomes = [
      { kind: 'response' as const, response: { type: 'put' as const, response: { header: { revision: 9 }, prevKv: kv } } },
      { kind: 'response' as const, response: { type: 'deleteRange' as const, response: { header: { revision: 9 }, deleted: 1, prevKvs: [kv] } } },
      {
        kind: 'response' as const,
        response: {
          type: 'txn' as const,
          response: {
            header: { revision: 9 },
            succeeded: false,
            responses: [
              { type: 'range' as const, response: { header: { revision: 8 }, kvs: [kv], more: true, count: 7 } },
              { type: 'txn' as const, response: { header: { revision: 0 }, succeeded: true, responses: [] } },
            ],
          },
        },
      },
      { kind: 'rejected' as const, error: KeyNotFoundError.forKey(b('k')) },
    ];
    for (const outcome of outcomes) {
      expect(decodeOutcome(encodeOutcome(outcome), fail)).toEqual(outcome);
    }
    const rejected = decodeOutcome(encodeOutcome(outcomes[3] as (typeof outcomes)[3]), fail);
    expect(rejected.kind === 'rejected' && rejected.error).toBeInstanceOf(KeyNotFoundError);
    expect(commandErrorFromCode('NOPE', 'x')).toBeUndefined();
  });
});
