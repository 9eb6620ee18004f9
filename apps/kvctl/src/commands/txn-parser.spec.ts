import fc from 'fast-check';
import { etcd } from '@keyval/proto';
import { TxnSyntaxError, buildTxn, parseCompare, parseOperation, prefixEnd, splitWords } from './txn-parser';

const { EQUAL, NOT_EQUAL, LESS, GREATER } = etcd.Compare_CompareResult;

describe('kvctl txn syntax', () => {
  it('splits words like a shell: quotes, escapes, runs of spaces', () => {
    expect(splitWords('put k v')).toEqual(['put', 'k', 'v']);
    expect(splitWords(`put 'a key' "a \\"quoted\\" value"`)).toEqual(['put', 'a key', 'a "quoted" value']);
    expect(splitWords(`put k ''`)).toEqual(['put', 'k', '']);
    expect(splitWords('  get   a\\ b  ')).toEqual(['get', 'a b']);
    expect(() => splitWords(`put 'k v`)).toThrow(/unterminated ' quote/);
  });

  it('quoting round-trips any word', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 5 }), (words) => {
        const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
        expect(splitWords(quoted)).toEqual(words);
      }),
    );
  });

  it('parses value compares and TARGET(KEY) compares', () => {
    expect(parseCompare('k == v1')).toMatchObject({ result: EQUAL, target: etcd.Compare_CompareTarget.VALUE, key: Buffer.from('k'), targetUnion: { $case: 'value', value: Buffer.from('v1') } });
    expect(parseCompare('k = v1').result).toBe(EQUAL);
    expect(parseCompare(`'my key' != 'a b'`)).toMatchObject({ result: NOT_EQUAL, key: Buffer.from('my key'), targetUnion: { value: Buffer.from('a b') } });
    expect(parseCompare('version(k) == 0')).toMatchObject({ target: etcd.Compare_CompareTarget.VERSION, targetUnion: { $case: 'version', value: 0n } });
    expect(parseCompare('mod(k) < 17')).toMatchObject({ result: LESS, target: etcd.Compare_CompareTarget.MOD, targetUnion: { $case: 'modRevision', value: 17n } });
    expect(parseCompare('create_rev(k) > 3')).toMatchObject({ result: GREATER, target: etcd.Compare_CompareTarget.CREATE, targetUnion: { $case: 'createRevision', value: 3n } });
    expect(parseCompare('value(k) == x')).toMatchObject({ target: etcd.Compare_CompareTarget.VALUE, key: Buffer.from('k') });
  });

  it('names what is wrong with a bad compare', () => {
    expect(() => parseCompare('k v1')).toThrow(TxnSyntaxError);
    expect(() => parseCompare('k ~ v1')).toThrow(/unknown operator "~"/);
    expect(() => parseCompare('lease(k) == 1')).toThrow(/unknown target "lease"/);
    expect(() => parseCompare('version(k) == x')).toThrow(/whole number/);
    expect(() => parseCompare(`'' == x`)).toThrow(/key is empty/);
  });

  it('parses put, get and del with ranges and prefixes', () => {
    expect(parseOperation('put k v2').request).toMatchObject({ $case: 'requestPut', value: { key: Buffer.from('k'), value: Buffer.from('v2') } });
    expect(parseOperation('get k').request).toMatchObject({ $case: 'requestRange', value: { key: Buffer.from('k'), rangeEnd: Buffer.alloc(0) } });
    expect(parseOperation('get a c').request).toMatchObject({ value: { key: Buffer.from('a'), rangeEnd: Buffer.from('c') } });
    expect(parseOperation('get dir/ --prefix').request).toMatchObject({ value: { rangeEnd: Buffer.from('dir0') } });
    expect(parseOperation('del k --prefix').request).toMatchObject({ $case: 'requestDeleteRange', value: { key: Buffer.from('k'), rangeEnd: Buffer.from('l') } });
    expect(() => parseOperation('put k')).toThrow(/put KEY VALUE/);
    expect(() => parseOperation('swap a b')).toThrow(/unknown operation "swap"/);
    expect(() => parseOperation('get a b c')).toThrow(/KEY \[RANGE_END\]/);
  });

  it('builds the compare-and-swap of the README', () => {
    const txn = buildTxn(['k == v1'], ['put k v2'], ['get k']);
    expect(txn.compare).toHaveLength(1);
    expect(txn.success[0]?.request?.$case).toBe('requestPut');
    expect(txn.failure[0]?.request?.$case).toBe('requestRange');
    expect(() => buildTxn(['k == v'], [], [])).toThrow(/at least one --then or --else/);
  });

  it('computes etcd prefix range ends', () => {
    expect(prefixEnd(Buffer.from('a'))).toEqual(Buffer.from('b'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from('b'));
    expect(prefixEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });
});
