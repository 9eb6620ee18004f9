// Reproduces every verdict of ../shared/lincheck-data/expected.json (porcupine's test data:
// 103 Jepsen etcd register logs and 6 key-value histories; see that folder's README).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkHistory } from './check';
import { HistoryParseError } from './lincheck.error';
import { parseHistory } from './read-history';

/** The repository root is three levels up from libs/lincheck/src; the data sits beside it. */
const DATA_DIR = resolve(__dirname, '../../..', '../shared/lincheck-data');

interface ExpectedFile {
  readonly jepsen: { readonly verdicts: Readonly<Record<string, boolean | null>> };
  readonly kv: { readonly verdicts: Readonly<Record<string, boolean | null>> };
}

function loadExpected(): [string, boolean | null][] {
  const path = join(DATA_DIR, 'expected.json');
  if (!existsSync(path)) {
    throw new Error(`lincheck test data not found at ${path} (expected ../shared/lincheck-data beside the repository)`);
  }
  const expected = JSON.parse(readFileSync(path, 'utf8')) as ExpectedFile;
  return [...Object.entries(expected.jepsen.verdicts), ...Object.entries(expected.kv.verdicts)];
}

const cases = loadExpected();

function check(file: string): ReturnType<typeof checkHistory> {
  const history = parseHistory(readFileSync(join(DATA_DIR, file), 'utf8'));
  // Generous: the machine is shared; every file takes well under a second alone.
  return checkHistory(history.ops, { model: history.model ?? 'kv', initialValue: history.initialValue, timeoutMs: 30_000 });
}

describe('porcupine test data', () => {
  it('lists all 109 files: 103 Jepsen logs (23 true, 79 false, 1 empty) and 6 kv histories', () => {
    expect(cases).toHaveLength(109);
    expect(cases.filter(([, verdict]) => verdict === true)).toHaveLength(26);
    expect(cases.filter(([, verdict]) => verdict === false)).toHaveLength(82);
    expect(cases.filter(([, verdict]) => verdict === null)).toHaveLength(1);
  });

  it.each(cases)('%s is %p', (file, expected) => {
    if (expected === null) {
      expect(() => check(file)).toThrow(HistoryParseError);
      return;
    }
    const result = check(file);
    expect(result.verdict).toBe(expected ? 'linearizable' : 'not-linearizable');
    if (!expected) {
      expect(result.counterexample?.candidates.length).toBeGreaterThan(0);
    }
  });

  it('refutes kv/c50-bad within a small, fixed number of steps by interleaving keys', () => {
    const result = check('kv/c50-bad.txt');
    expect(result.verdict).toBe('not-linearizable');
    // Deterministic: today 94 637 steps. Keys "0", "5", "7" and "9" each need more than 5 M
    // steps on their own; round-robin slices let the quickly refuted keys finish first.
    expect(result.steps).toBeLessThan(300_000);
    expect(result.perKey.filter((key) => key.verdict === 'unknown').length).toBeGreaterThan(0);
  });
});
