import { EntryType, bootstrapEntries, nodeId } from '@keyval/raft';
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { CommandDecodeError, KvStateMachine, decodeCommand, encodeCommand } from './kv-state-machine';
import type { KvCommand } from './kv-state-machine';

let index = 0;
const entry = (command: KvCommand | undefined, term = 1): Entry => ({
  index: ++index as LogIndex,
  term: term as Term,
  type: EntryType.Normal,
  data: command === undefined ? new Uint8Array(0) : encodeCommand(command),
});

describe('KvStateMachine', () => {
  beforeEach(() => {
    index = 0;
  });

  it('applies put, delete and compare-and-swap', () => {
    const sm = new KvStateMachine();
    expect(sm.apply(entry({ kind: 'put', opId: 'a', key: 'k', value: '1' })).result).toEqual({ opId: 'a', succeeded: true });
    expect(sm.apply(entry({ kind: 'cas', opId: 'b', key: 'k', expected: '0', newValue: '2' })).result?.succeeded).toBe(false);
    expect(sm.get('k')).toBe('1');
    expect(sm.apply(entry({ kind: 'cas', opId: 'c', key: 'k', expected: '1', newValue: '2' })).result?.succeeded).toBe(true);
    expect(sm.get('k')).toBe('2');
    expect(sm.apply(entry({ kind: 'cas', opId: 'd', key: 'k', expected: '2', newValue: null })).result?.succeeded).toBe(true);
    expect(sm.get('k')).toBeNull();
    expect(sm.apply(entry({ kind: 'cas', opId: 'e', key: 'k', expected: null, newValue: '3' })).result?.succeeded).toBe(true);
    sm.apply(entry({ kind: 'delete', opId: 'f', key: 'k' }));
    expect(sm.get('k')).toBeNull();
    expect(sm.appliedIndex).toBe(6);
    expect(sm.hasApplied('c')).toBe(true);
  });

  it('treats empty entries as no-ops and configuration entries as configuration', () => {
    const sm = new KvStateMachine();
    const boot = bootstrapEntries([nodeId(1), nodeId(2)]);
    for (const e of boot.entries) {
      expect(sm.apply(e).result).toBeUndefined();
    }
    index = sm.appliedIndex;
    expect(sm.config.voters).toEqual([nodeId(1), nodeId(2)]);
    expect(sm.apply(entry(undefined)).result).toBeUndefined();
  });

  it('flags a client operation applied twice', () => {
    const sm = new KvStateMachine();
    sm.apply(entry({ kind: 'put', opId: 'x', key: 'k', value: '1' }));
    expect(sm.apply(entry({ kind: 'put', opId: 'x', key: 'k', value: '1' })).duplicate).toBe(true);
  });

  it('refuses to apply out of order', () => {
    const sm = new KvStateMachine();
    index = 1;
    expect(() => sm.apply(entry({ kind: 'put', opId: 'x', key: 'k', value: '1' }))).toThrow(RangeError);
  });

  it('restores from an image to the same state, chain digest included', () => {
    const a = new KvStateMachine();
    a.apply(entry({ kind: 'put', opId: 'p', key: 'k1', value: 'v1' }));
    a.apply(entry({ kind: 'put', opId: 'q', key: 'k2', value: 'v2' }, 2));
    const b = new KvStateMachine(a.image());
    expect(b.get('k1')).toBe('v1');
    expect(b.appliedIndex).toBe(2);
    expect(b.appliedTerm).toBe(2);
    expect(b.chainDigest).toBe(a.chainDigest);
    expect(b.contentDigest()).toBe(a.contentDigest());
    expect(b.hasApplied('q')).toBe(true);
    const next = entry({ kind: 'delete', opId: 'r', key: 'k1' }, 2);
    a.apply(next);
    b.apply(next);
    expect(b.chainDigest).toBe(a.chainDigest);
  });

  it('gives different chain digests to different histories at the same index', () => {
    const a = new KvStateMachine();
    const b = new KvStateMachine();
    a.apply(entry({ kind: 'put', opId: 'p', key: 'k', value: '1' }));
    index = 0;
    b.apply(entry({ kind: 'put', opId: 'p', key: 'k', value: '1' }, 2));
    expect(a.chainDigest).not.toBe(b.chainDigest);
  });

  it('round-trips commands and rejects malformed payloads with a named error', () => {
    const command: KvCommand = { kind: 'cas', opId: 'o', key: 'k', expected: null, newValue: 'v' };
    expect(decodeCommand(encodeCommand(command))).toEqual(command);
    expect(() => decodeCommand(new TextEncoder().encode('{"kind":"put","opId":"o","key":"k"}'))).toThrow(CommandDecodeError);
    expect(() => decodeCommand(new TextEncoder().encode('7'))).toThrow(CommandDecodeError);
    expect(() => decodeCommand(new Uint8Array([0xff, 0x00]))).toThrow(CommandDecodeError);
  });
});
