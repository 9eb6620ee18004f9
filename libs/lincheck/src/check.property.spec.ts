import fc from 'fast-check';
import { checkHistory } from './check';
import { formatEdnHistory } from './edn-writer';
import type { Operation } from './history';
import { parseJsonHistory, formatJsonHistory } from './json-history';
import { parseHistory } from './read-history';
import { bruteForceLinearizable } from './testing/brute-force-checker';
import { historyArbitrary } from './testing/history-arbitrary';

// Fixed seeds keep the suite deterministic; change one locally to explore further.
const RUNS = { numRuns: 400, seed: 20240607 };

function fastVerdict(ops: readonly Operation[], initialValue: string | null = null): boolean {
  const result = checkHistory(ops, { initialValue, timeoutMs: Number.POSITIVE_INFINITY });
  if (result.verdict === 'unknown') {
    throw new Error('small histories must always get a verdict');
  }
  return result.verdict === 'linearizable';
}

describe('the checker agrees with brute force over all orders', () => {
  it('on one key with get, put, delete and cas', () => {
    fc.assert(
      fc.property(historyArbitrary({ maxOps: 7, keys: ['x'] }), (ops) => fastVerdict(ops) === bruteForceLinearizable(ops, null)),
      RUNS,
    );
  });

  it('on two keys (the per-key split must not change the verdict)', () => {
    fc.assert(
      fc.property(historyArbitrary({ maxOps: 8, keys: ['a', 'b'] }), (ops) => fastVerdict(ops) === bruteForceLinearizable(ops, null)),
      { ...RUNS, seed: RUNS.seed + 1 },
    );
  });

  it('with appends and an initial value of ""', () => {
    fc.assert(
      fc.property(historyArbitrary({ maxOps: 7, keys: ['x', 'y'], withAppend: true, initialValue: '' }), (ops) => fastVerdict(ops, '') === bruteForceLinearizable(ops, '')),
      { ...RUNS, seed: RUNS.seed + 2 },
    );
  });

  it('generates both verdicts often enough to mean something', () => {
    const samples = fc.sample(historyArbitrary({ maxOps: 7, keys: ['x'] }), { numRuns: 300, seed: RUNS.seed });
    const linearizable = samples.filter((ops) => bruteForceLinearizable(ops, null)).length;
    expect(linearizable).toBeGreaterThan(60);
    expect(samples.length - linearizable).toBeGreaterThan(60);
  });
});

describe('properties of the checker itself', () => {
  it('an uncorrupted recorded execution is linearizable, also beyond brute-force sizes', () => {
    fc.assert(
      fc.property(historyArbitrary({ minOps: 20, maxOps: 60, keys: ['a', 'b', 'c'], withAppend: true, corrupt: false }), (ops) => fastVerdict(ops, null)),
      { numRuns: 150, seed: RUNS.seed + 3 },
    );
  });

  it('long single-key executions stay linearizable (cache windows span many words)', () => {
    fc.assert(
      fc.property(historyArbitrary({ minOps: 200, maxOps: 400, keys: ['x'], processes: 8, corrupt: false }), (ops) => fastVerdict(ops, null)),
      { numRuns: 40, seed: RUNS.seed + 7 },
    );
  });

  it('the verdict does not depend on the order operations are listed in', () => {
    fc.assert(
      fc.property(historyArbitrary({ maxOps: 12, keys: ['a', 'b'] }), fc.nat(), (ops, seed) => {
        const shuffled = [...ops].sort((x, y) => ((x.callTime * 31 + seed) % 7) - ((y.callTime * 31 + seed) % 7));
        return fastVerdict(shuffled) === fastVerdict(ops);
      }),
      { ...RUNS, seed: RUNS.seed + 4 },
    );
  });
});

describe('writers and readers round-trip', () => {
  it('JSON: parse(format(ops)) gives the same operations', () => {
    fc.assert(
      fc.property(historyArbitrary({ maxOps: 10, keys: ['a', 'b'], withAppend: true, initialValue: '' }), (ops) => {
        const history = { ops, initialValue: '', model: 'kv' as const };
        expect(parseJsonHistory(formatJsonHistory(history))).toEqual(history);
      }),
      { ...RUNS, seed: RUNS.seed + 5 },
    );
  });

  it('EDN: parse(format(ops)) gives the same operations, and the same verdict', () => {
    fc.assert(
      // Keyed EDN histories start every key at "" (porcupine's kv convention).
      fc.property(historyArbitrary({ maxOps: 10, keys: ['a', 'b'], initialValue: '' }), (ops) => {
        const history = { ops, initialValue: '', model: 'kv' as const };
        const back = parseHistory(formatEdnHistory(history));
        expect(back.model).toBe('kv');
        expect(back.initialValue).toBe('');
        expect(sortOps(back.ops)).toEqual(sortOps(ops.map(withoutIgnoredFields)));
        expect(fastVerdict(back.ops, '')).toBe(fastVerdict(ops, ''));
      }),
      { ...RUNS, seed: RUNS.seed + 6 },
    );
  });

  it('EDN with keys absent at first: written as independent [key value] tuples, read back the same', () => {
    fc.assert(
      fc.property(historyArbitrary({ maxOps: 10, keys: ['a', 'b'] }), (ops) => {
        fc.pre(ops.some((op) => op.f === 'get' || op.f === 'put'));
        const history = { ops, initialValue: null, model: 'kv' as const };
        const back = parseHistory(formatEdnHistory(history));
        expect(back.model).toBe('kv');
        expect(back.initialValue).toBeNull();
        expect(sortOps(back.ops)).toEqual(sortOps(ops.map(withoutIgnoredFields)));
        expect(fastVerdict(back.ops)).toBe(fastVerdict(ops));
      }),
      { ...RUNS, seed: RUNS.seed + 7 },
    );
  });
});

/** Fields EDN does not carry because nothing reads them: outputs of unfinished gets. */
function withoutIgnoredFields(op: Operation): Operation {
  if (op.f === 'get' && op.status !== 'ok') {
    const { output: _output, ...rest } = op;
    return rest;
  }
  if (op.f === 'cas' && op.status !== 'ok') {
    const { succeeded: _succeeded, ...rest } = op;
    return rest;
  }
  return op;
}

function sortOps(ops: readonly Operation[]): Operation[] {
  return [...ops].sort((x, y) => x.process - y.process || x.callTime - y.callTime);
}
