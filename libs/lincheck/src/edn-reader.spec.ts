import { LineIndex, ednGet, positionOf, readEdn, readEdnForms } from './edn-reader';
import { HistoryParseError } from './lincheck.error';

describe('readEdn', () => {
  it.each<[string, unknown]>([
    ['nil', null],
    ['true', true],
    ['false', false],
    ['42', 42],
    ['-7', -7],
    ['+3', 3],
    ['12N', 12],
    ['1.5', 1.5],
    ['-2.5e3', -2500],
    ['1e+21', 1e21],
    ['3.0M', 3],
    ['"a\\"b\\\\c\\n\\tq\\u0041"', 'a"b\\c\n\tqA'],
    [':invoke', { kind: 'keyword', name: 'invoke' }],
    [':jepsen.util/op', { kind: 'keyword', name: 'jepsen.util/op' }],
    ['foo-bar?', { kind: 'symbol', name: 'foo-bar?' }],
    ['\\a', { kind: 'char', value: 'a' }],
    ['\\newline', { kind: 'char', value: '\n' }],
    ['\\u0042', { kind: 'char', value: 'B' }],
    ['[1 4]', { kind: 'vector', items: [1, 4] }],
    ['(1, 2)', { kind: 'list', items: [1, 2] }],
    ['#{:a}', { kind: 'set', items: [{ kind: 'keyword', name: 'a' }] }],
    ['#inst "2020-01-01"', { kind: 'tagged', tag: 'inst', value: '2020-01-01' }],
    ['[1 #_ 2 3]', { kind: 'vector', items: [1, 3] }],
    ['[1 ; comment\n 2]', { kind: 'vector', items: [1, 2] }],
  ])('reads %s', (text, expected) => {
    expect(readEdn(text)).toEqual(expected);
  });

  it('reads integers beyond 2^53 as bigints', () => {
    expect(readEdn('123456789012345678901')).toBe(123456789012345678901n);
  });

  it('reads maps with their entries and offset', () => {
    const map = readEdn('{:process 0, :type :invoke, :value nil}');
    expect(typeof map === 'object' && map !== null && map.kind === 'map').toBe(true);
    if (typeof map === 'object' && map !== null && map.kind === 'map') {
      expect(ednGet(map, 'process')).toBe(0);
      expect(ednGet(map, 'type')).toEqual({ kind: 'keyword', name: 'invoke' });
      expect(ednGet(map, 'value')).toBeNull();
      expect(ednGet(map, 'missing')).toBeUndefined();
      expect(map.offset).toBe(0);
    }
  });

  it('reads every top-level form with its offset', () => {
    expect(readEdnForms('1 :a\n[2]').map((form) => form.offset)).toEqual([0, 2, 5]);
    expect(readEdnForms('  ; only a comment\n')).toEqual([]);
  });

  it.each<[string, string]>([
    ['[1 2', 'line 1, column 1: unclosed collection: expected ]'],
    ['{:a}', 'line 1, column 1: a map needs an even number of forms'],
    ['"abc', 'line 1, column 1: unterminated string'],
    ['\n  )', 'line 2, column 3: unexpected )'],
    ['"\\q"', 'line 1, column 2: bad escape \\q in string'],
    ['12abc', 'line 1, column 1: bad number 12abc'],
    [':', 'line 1, column 1: empty keyword'],
    ['#"re"', 'line 1, column 1: unsupported dispatch #'],
    ['\\bogus', 'line 1, column 1: unknown character \\bogus'],
    ['1 2', 'expected one EDN value, found 2'],
  ])('rejects %p with a positioned HistoryParseError', (text, message) => {
    expect(() => readEdn(text)).toThrow(HistoryParseError);
    expect(() => readEdn(text)).toThrow(message);
  });

  it('limits nesting depth', () => {
    expect(() => readEdn('['.repeat(100) + ']'.repeat(100))).toThrow('nested deeper than 64');
  });
});

describe('positions', () => {
  it('LineIndex agrees with positionOf', () => {
    const text = 'a\nbb\n\nccc\n';
    const index = new LineIndex(text);
    for (let offset = 0; offset <= text.length; offset++) {
      expect(index.lineOf(offset)).toBe(positionOf(text, offset).line);
    }
  });
});
