import { LincheckInvariantError } from './lincheck.error';
import {
  ABSENT,
  ILLEGAL,
  OP_APPEND,
  OP_CAS_FAILED,
  OP_CAS_SUCCEEDED,
  OP_CAS_UNKNOWN,
  OP_DELETE,
  OP_GET,
  OP_PUT,
  OUT_OF_MEMORY,
  ValueTable,
  compileOperation,
  isChecked,
  stepModel,
} from './model';
import { CACHE_FULL, CACHE_INSERTED, CACHE_PRESENT, MemoryBudget, StateCache, zobristKeys } from './state-cache';
import { cas, get, put } from './testing/history-builders';

const roomy = (): MemoryBudget => new MemoryBudget(1 << 20);

describe('ValueTable', () => {
  it('interns null as ABSENT and equal strings to one id', () => {
    const values = new ValueTable(roomy());
    expect(values.idOf(null)).toBe(ABSENT);
    const one = values.idOf('1');
    expect(values.idOf('1')).toBe(one);
    expect(values.idOf('')).not.toBe(ABSENT);
    expect(values.valueOf(one)).toBe('1');
  });

  it('appends with absent counting as "", and equal results share an id', () => {
    const values = new ValueTable(roomy());
    const a = values.idOf('a');
    const b = values.idOf('b');
    const ab = values.append(values.append(ABSENT, a), b);
    expect(values.valueOf(ab)).toBe('ab');
    expect(values.append(values.idOf('a'), b)).toBe(ab);
    expect(values.idOf('ab')).toBe(ab);
  });

  it('reports OUT_OF_MEMORY when an append result does not fit the budget', () => {
    const values = new ValueTable(new MemoryBudget(100));
    const long = values.idOf('x'.repeat(40));
    expect(values.append(long, long)).toBe(OUT_OF_MEMORY);
  });

  it('rejects ids it never issued', () => {
    expect(() => new ValueTable(roomy()).valueOf(7)).toThrow(LincheckInvariantError);
  });
});

describe('stepModel', () => {
  const values = new ValueTable(roomy());
  const one = values.idOf('1');
  const two = values.idOf('2');

  it.each([
    ['get matching', OP_GET, one, 0, one, one],
    ['get mismatching', OP_GET, one, 0, two, ILLEGAL],
    ['get absent', OP_GET, ABSENT, 0, ABSENT, ABSENT],
    ['put', OP_PUT, two, 0, one, two],
    ['delete', OP_DELETE, 0, 0, one, ABSENT],
    ['cas succeeded when equal', OP_CAS_SUCCEEDED, one, two, one, two],
    ['cas succeeded when different', OP_CAS_SUCCEEDED, one, two, two, ILLEGAL],
    ['cas succeeded on absent (create)', OP_CAS_SUCCEEDED, ABSENT, two, ABSENT, two],
    ['cas failed when different', OP_CAS_FAILED, one, two, two, two],
    ['cas failed when equal', OP_CAS_FAILED, one, two, one, ILLEGAL],
    ['indeterminate cas when equal', OP_CAS_UNKNOWN, one, two, one, two],
    ['indeterminate cas when different', OP_CAS_UNKNOWN, one, two, ABSENT, ABSENT],
  ])('%s', (_name, code, a, b, state, expected) => {
    expect(stepModel(code, a, b, state, values)).toBe(expected);
  });

  it('append concatenates', () => {
    const next = stepModel(OP_APPEND, one, 0, two, values);
    expect(values.valueOf(next)).toBe('21');
  });
});

describe('compileOperation and isChecked', () => {
  const values = new ValueTable(roomy());

  it('compiles each kind and status to its op code', () => {
    expect(compileOperation(get([0, 1], '1'), values).code).toBe(OP_GET);
    expect(compileOperation(put([0, 1], '1', { status: 'info' }), values).code).toBe(OP_PUT);
    expect(compileOperation(cas([0, 1], '1', '2', true), values).code).toBe(OP_CAS_SUCCEEDED);
    expect(compileOperation(cas([0, 1], '1', '2', false), values).code).toBe(OP_CAS_FAILED);
    expect(compileOperation(cas([0, null], '1', '2', undefined), values).code).toBe(OP_CAS_UNKNOWN);
  });

  it('leaves out failed operations and indeterminate reads', () => {
    expect(isChecked(put([0, 1], '1', { status: 'fail' }))).toBe(false);
    expect(isChecked({ ...get([0, 1], null), status: 'info' })).toBe(false);
    expect(isChecked(put([0, null], '1'))).toBe(true);
    expect(() => compileOperation(put([0, 1], '1', { status: 'fail' }), values)).toThrow(LincheckInvariantError);
  });
});

describe('StateCache', () => {
  it('stores each configuration once and tells present from new', () => {
    const cache = new StateCache(2, 1, roomy());
    const bits = Uint32Array.of(5, 1, 8);
    expect(cache.insert(bits, 42, 3, 0, 0, 2)).toBe(CACHE_INSERTED);
    expect(cache.insert(bits, 42, 3, 0, 0, 2)).toBe(CACHE_PRESENT);
    expect(cache.insert(bits, 42, 4, 0, 0, 2)).toBe(CACHE_INSERTED);
    expect(cache.insert(Uint32Array.of(5, 2, 8), 42, 3, 0, 0, 2)).toBe(CACHE_INSERTED);
    expect(cache.insert(Uint32Array.of(5, 1, 9), 42, 3, 0, 0, 2)).toBe(CACHE_INSERTED);
    expect(cache.size).toBe(4);
  });

  it('compares the window from low and the indeterminate words, nothing else', () => {
    const cache = new StateCache(2, 1, roomy());
    // Positions 0..32 placed (low 33): only word 1 is stored; word 0 is implied by low.
    expect(cache.insert(Uint32Array.of(0xffffffff, 1, 0), 7, 0, 33, 1, 1)).toBe(CACHE_INSERTED);
    expect(cache.insert(Uint32Array.of(0, 1, 0), 7, 0, 33, 1, 1)).toBe(CACHE_PRESENT);
    expect(cache.insert(Uint32Array.of(0xffffffff, 3, 0), 7, 0, 34, 1, 1)).toBe(CACHE_INSERTED);
    expect(cache.insert(Uint32Array.of(0xffffffff, 1, 0b100), 7, 0, 33, 1, 1)).toBe(CACHE_INSERTED);
  });

  it('tells apart equal windows that start at different positions (same hash on purpose)', () => {
    const cache = new StateCache(2, 0, roomy());
    // {0} (low 1, window word 0 = 0b1) versus {0..32} (low 33, window word 1 = 0b1).
    expect(cache.insert(Uint32Array.of(1, 0), 9, 0, 1, 0, 1)).toBe(CACHE_INSERTED);
    expect(cache.insert(Uint32Array.of(0xffffffff, 1), 9, 0, 33, 1, 2)).toBe(CACHE_INSERTED);
    expect(cache.insert(Uint32Array.of(0xffffffff, 1), 9, 0, 33, 1, 2)).toBe(CACHE_PRESENT);
  });

  it('keeps every entry across growth', () => {
    const cache = new StateCache(1, 0, roomy());
    for (let i = 0; i < 5000; i++) {
      expect(cache.insert(Uint32Array.of(i), i * 7, i % 3, 0, 0, 1)).toBe(CACHE_INSERTED);
    }
    for (let i = 0; i < 5000; i++) {
      expect(cache.insert(Uint32Array.of(i), i * 7, i % 3, 0, 0, 1)).toBe(CACHE_PRESENT);
    }
  });

  it('reports CACHE_FULL at the budget and gives bytes back on dispose', () => {
    const budget = new MemoryBudget(16 * 1024);
    const cache = new StateCache(1, 0, budget);
    let result = CACHE_INSERTED;
    for (let i = 0; result === CACHE_INSERTED; i++) {
      result = cache.insert(Uint32Array.of(i), i, 0, 0, 0, 1);
    }
    expect(result).toBe(CACHE_FULL);
    expect(budget.usedBytes).toBeGreaterThan(0);
    cache.dispose();
    expect(budget.usedBytes).toBe(0);
  });

  it('derives distinct, fixed Zobrist keys', () => {
    const keys = zobristKeys(1000);
    expect(new Set(keys).size).toBe(1000);
    expect(zobristKeys(1000)).toEqual(keys);
  });
});
