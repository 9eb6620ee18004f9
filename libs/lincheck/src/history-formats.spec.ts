import { checkHistory } from './check';
import { formatEdnHistory } from './edn-writer';
import type { History, Operation } from './history';
import { formatJsonHistory, parseJsonHistory } from './json-history';
import { HistoryParseError, InvalidHistoryError } from './lincheck.error';
import { detectFormat, parseHistory } from './read-history';
import { cas, get, put } from './testing/history-builders';

const LOG = [
  'INFO  jepsen.util - 0\t:invoke\t:read\tnil',
  'INFO  jepsen.util - 1\t:invoke\t:write\t4',
  'INFO  jepsen.util - 2  :invoke  :cas  [4 0]',
  'INFO  jepsen.util - 0\t:ok\t:read\tnil',
  'INFO  jepsen.util - 1\t:ok\t:write\t4',
  'INFO  jepsen.util - 2\t:fail\t:cas\t[4 0]',
  'INFO  jepsen.core - some other log line',
  'INFO  jepsen.util - :nemesis\t:info\t:start\tnil',
  'INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]',
  'INFO  jepsen.util - 3\t:info\t:cas\t:timed-out',
  'INFO  jepsen.util - 4\t:invoke\t:read\tnil',
  'INFO  jepsen.util - 4\t:fail\t:read\t:timed-out',
  'INFO  jepsen.util - 5\t:invoke\t:write\t1',
].join('\n');

describe('Jepsen log lines', () => {
  const history = parseHistory(LOG);

  it('pairs invocations with completions per process, in line order', () => {
    expect(history.model).toBe('register');
    expect(history.initialValue).toBeNull();
    expect(history.ops).toEqual([
      { process: 0, key: '', callTime: 0, returnTime: 3, f: 'get', status: 'ok', output: null },
      { process: 1, key: '', callTime: 1, returnTime: 4, f: 'put', status: 'ok', value: '4' },
      { process: 2, key: '', callTime: 2, returnTime: 5, f: 'cas', status: 'ok', expected: '4', newValue: '0', succeeded: false },
      { process: 3, key: '', callTime: 6, returnTime: 7, f: 'cas', status: 'info', expected: '1', newValue: '2' },
      { process: 4, key: '', callTime: 8, returnTime: 9, f: 'get', status: 'fail' },
      { process: 5, key: '', callTime: 10, returnTime: null, f: 'put', status: 'info', value: '1' },
    ]);
  });

  it('a :fail :cas is a failed comparison, so it is checked', () => {
    // The cas [4 0] failed although the value may have been 4: legal only before the write.
    expect(checkHistory(history.ops).verdict).toBe('linearizable');
  });

  it.each<[string, string]>([
    ['INFO jepsen.util - 1\t:ok\t:read\t3', 'line 1: :ok from process 1 without an :invoke'],
    ['INFO jepsen.util - 1\t:invoke\t:read\tnil\nINFO jepsen.util - 1\t:invoke\t:read\tnil', 'line 2: process 1 invoked again before its operation from line 1 completed'],
    ['INFO jepsen.util - 1\t:invoke\t:scan\tnil', 'line 1: unsupported operation :scan'],
    ['INFO jepsen.util - 1\t:invoke\t:cas\t[1 2', 'line 1: bad value "[1 2": unclosed collection: expected ]'],
    ['INFO jepsen.util - 1\t:invoke\t:cas\t5', 'line 1: a :cas needs [expected new] as its value'],
    ['INFO jepsen.util - 1\t:invoke\t:read\tnil\nINFO jepsen.util - 1\t:ok\t:write\t3', 'line 2: completion :put does not match the :get'],
  ])('rejects %p', (text, message) => {
    expect(() => parseHistory(text)).toThrow(HistoryParseError);
    expect(() => parseHistory(text)).toThrow(message);
  });
});

describe('EDN histories', () => {
  const lines = [
    '{:process 0, :type :invoke, :f :append, :key "k", :value "x"}',
    '{:process 0, :type :ok, :f :append, :key "k", :value "x"}',
    '{:process 1, :type :invoke, :f :get, :key "k", :value nil}',
    '{:process 1, :type :ok, :f :get, :key "k", :value "x"}',
  ];

  it('reads one map per line; appends imply an initial value of ""', () => {
    const history = parseHistory(lines.join('\n'));
    expect(history.model).toBe('kv');
    expect(history.initialValue).toBe('');
    expect(history.ops.map((op) => [op.f, op.key, op.callTime, op.returnTime])).toEqual([
      ['append', 'k', 0, 1],
      ['get', 'k', 2, 3],
    ]);
  });

  // porcupine's kv files (../shared/lincheck-data/kv): every key starts as "", so a get of a
  // key never written returns "" — whatever operations the file holds.
  it.each<[string, string[], 'linearizable' | 'not-linearizable']>([
    ['put/get', [':invoke, :f :get, :key "k", :value nil', ':ok, :f :get, :key "k", :value ""', ':invoke, :f :put, :key "k", :value "x"', ':ok, :f :put, :key "k", :value "x"', ':invoke, :f :get, :key "k", :value nil', ':ok, :f :get, :key "k", :value "x"'], 'not-linearizable'],
    ['cas', [':invoke, :f :cas, :key "k", :value ["" "y"]', ':ok, :f :cas, :key "k", :value ["" "y"]', ':invoke, :f :get, :key "k", :value nil', ':ok, :f :get, :key "k", :value "y"'], 'not-linearizable'],
    ['delete', [':invoke, :f :get, :key "k", :value nil', ':ok, :f :get, :key "k", :value ""', ':invoke, :f :delete, :key "k", :value nil', ':ok, :f :delete, :key "k", :value nil'], 'not-linearizable'],
    ['put', [':invoke, :f :put, :key "k", :value "x"', ':ok, :f :put, :key "k", :value "x"'], 'linearizable'],
  ])('reads a %s-only kv file with every key starting as ""', (_name, events, withAbsent) => {
    const history = parseHistory(events.map((e) => `{:process 0, :type ${e}}`).join('\n'));
    expect(history.model).toBe('kv');
    expect(history.initialValue).toBe('');
    expect(checkHistory(history.ops, { initialValue: history.initialValue }).verdict).toBe('linearizable');
    // Read with absent semantics instead, a history that observed the initial "" is refuted.
    expect(checkHistory(history.ops, { initialValue: null }).verdict).toBe(withAbsent);
  });

  it('keeps a register and jepsen.independent tuples absent at first', () => {
    expect(parseHistory('{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value nil}').initialValue).toBeNull();
    expect(parseHistory('{:process 0, :type :invoke, :f :read, :value [1 nil]}\n{:process 0, :type :ok, :f :read, :value [1 nil]}').initialValue).toBeNull();
  });

  it('reads a vector of maps as Jepsen writes history.edn, using :time', () => {
    const text = `[{:type :invoke, :f :write, :value 3, :process 0, :time 100, :index 0}
 {:type :invoke, :f :read, :value nil, :process 1, :time 150, :index 1}
 {:type :info, :f :start-partition, :value nil, :process :nemesis, :time 160}
 {:type :ok, :f :write, :value 3, :process 0, :time 200, :index 2}
 {:type :ok, :f :read, :value 3, :process 1, :time 250, :index 3}]`;
    const history = parseHistory(text);
    expect(history.model).toBe('register');
    expect(history.ops).toEqual([
      { process: 0, key: '', callTime: 100, returnTime: 200, f: 'put', status: 'ok', value: '3' },
      { process: 1, key: '', callTime: 150, returnTime: 250, f: 'get', status: 'ok', output: '3' },
    ]);
  });

  it('reads jepsen.independent [key value] tuples', () => {
    const text = [
      '{:process 0, :type :invoke, :f :cas, :value [7 [1 2]]}',
      '{:process 1, :type :invoke, :f :read, :value [7 nil]}',
      '{:process 0, :type :fail, :f :cas, :value [7 [1 2]], :error :unavailable}',
      '{:process 1, :type :ok, :f :read, :value [7 5]}',
    ].join('\n');
    const history = parseHistory(text);
    expect(history.model).toBe('kv');
    expect(history.ops.map((op) => [op.key, op.f, op.status])).toEqual([
      ['7', 'cas', 'fail'],
      ['7', 'get', 'ok'],
    ]);
    expect(history.ops[1]).toMatchObject({ output: '5' });
  });

  it.each<[string, string]>([
    ['{:process 0, :type :begin, :f :read}', 'line 1: :type must be :invoke, :ok, :fail or :info'],
    ['{:process 0, :type :invoke, :f "read"}', 'line 1: :f must be a keyword such as :read'],
    ['{:process 0, :type :invoke, :f :write, :value nil}', 'line 1: a :write needs a value'],
    ['{:process 0, :type :invoke, :f :write, :value [1]}\n{:process 1, :type :invoke, :f :write, :value [1 2]}', 'line 1: expected a [key value] tuple'],
    ['{:process :nemesis, :type :info, :f :kill}', 'no operations found in the EDN history'],
    ['[1 2]', 'expected EDN maps'],
  ])('rejects %p', (text, message) => {
    expect(() => parseHistory(text)).toThrow(message);
  });
});

describe('the JSON format', () => {
  const history: History = {
    model: 'kv',
    initialValue: null,
    ops: [put([0, 2], 'a'), cas([1, 3], 'a', 'b', true, { process: 1 }), get([4, 5], 'b', { process: 2 }), cas([6, null], null, 'c', undefined, { process: 3 })],
  };

  it('writes one operation per line and reads it back unchanged', () => {
    const text = formatJsonHistory(history);
    expect(text.split('\n')[0]).toBe('{"format":"keyval-lincheck-history","version":1,"model":"kv","initialValue":null,"ops":[');
    expect(text.split('\n')[2]).toBe('{"process":1,"f":"cas","key":"x","expected":"a","newValue":"b","status":"ok","succeeded":true,"callTime":1,"returnTime":3},');
    expect(parseHistory(text)).toEqual(history);
    expect(detectFormat(text)).toBe('json');
  });

  it('treats a missing returnTime as never returned', () => {
    const text = '{"format":"keyval-lincheck-history","version":1,"ops":[{"process":0,"f":"delete","key":"k","status":"info","callTime":3}]}';
    expect(parseJsonHistory(text).ops[0]).toEqual({ process: 0, f: 'delete', key: 'k', status: 'info', callTime: 3, returnTime: null });
  });

  it.each<[string, string]>([
    ['{"format":"other","version":1,"ops":[]}', '"format" must be "keyval-lincheck-history"'],
    ['{"format":"keyval-lincheck-history","version":2,"ops":[]}', 'unsupported "version" 2'],
    ['{"format":"keyval-lincheck-history","version":1}', '"ops" must be an array'],
    ['{"format":"keyval-lincheck-history","version":1,"ops":[],"extra":1}', 'unknown field "extra"'],
    ['{"format":"keyval-lincheck-history","version":1,"ops":[{"f":"put","key":"k","value":"v","status":"ok","callTime":0,"retrunTime":1,"process":0}]}', 'ops[0]: unknown field "retrunTime"'],
    ['{"format":"keyval-lincheck-history","version":1,"ops":[{"f":"get","key":"k","status":"ok","callTime":0,"returnTime":1,"process":0}]}', 'ops[0]: an ok get needs output'],
    ['{"format":"keyval-lincheck-history","version":1,"ops":[{"f":"scan"}]}', 'ops[0].f: must be one of get, put, delete, cas, append'],
    ['{"format":"keyval-lincheck-history", "version": 1, "ops": [', 'not valid JSON'],
  ])('rejects %p', (text, message) => {
    expect(() => parseHistory(text)).toThrow(HistoryParseError);
    expect(() => parseHistory(text)).toThrow(message);
  });
});

describe('the EDN writer', () => {
  it('writes Jepsen-style events that read back to the same operations', () => {
    const ops: Operation[] = [put([0, 2], 'a "quoted"\nline'), cas([1, 3], 'a', null, false, { process: 1 }), cas([4, 5], 'a', 'b', undefined, { process: 1, status: 'fail' })];
    const text = formatEdnHistory({ ops, initialValue: '', model: 'kv' });
    expect(text.split('\n')[0]).toBe('{:process 0, :type :invoke, :f :put, :key "x", :value "a \\"quoted\\"\\nline", :time 0}');
    expect(text).toContain('{:process 1, :type :fail, :f :cas, :key "x", :value ["a" nil], :time 3}');
    expect(text).toContain(':type :fail, :f :cas, :key "x", :value ["a" "b"], :time 5, :error :not-applied}');
    expect(parseHistory(text).ops).toEqual(ops);
  });

  it('omits keys for the register model', () => {
    const text = formatEdnHistory({ ops: [put([0, 1], '1')], initialValue: null, model: 'register' });
    expect(text).not.toContain(':key');
    expect(parseHistory(text).model).toBe('register');
  });

  it('refuses what EDN cannot express', () => {
    expect(() => formatEdnHistory({ ops: [put([0, 1], '1')], initialValue: 'z' })).toThrow(InvalidHistoryError);
    // Keys absent at first are written as tuples, which the reader recognises by a get or put.
    expect(() => formatEdnHistory({ ops: [cas([0, 1], 'a', 'b', true)], initialValue: null, model: 'kv' })).toThrow('EDN tuples need at least one get or put');
    expect(formatEdnHistory({ ops: [put([0, 1], '1')], initialValue: null, model: 'kv' })).toBe('{:process 0, :type :invoke, :f :put, :value ["x" "1"], :time 0}\n{:process 0, :type :ok, :f :put, :value ["x" "1"], :time 1}\n');
    expect(() => formatEdnHistory({ ops: [put([0, null], '1'), get([5, 6], '1')], initialValue: '' })).toThrow('process 0 starts it before its previous operation returned');
  });
});

describe('parseHistory', () => {
  it.each(['', '  \n\t'])('calls %p empty', (text) => {
    expect(() => parseHistory(text)).toThrow('empty input: no history to check');
  });

  it('detects formats', () => {
    expect(detectFormat('{:process 0}')).toBe('edn');
    expect(detectFormat('[{:process 0}]')).toBe('edn');
    expect(detectFormat(LOG)).toBe('jepsen-log');
    expect(detectFormat('garbage')).toBe('edn');
  });
});
