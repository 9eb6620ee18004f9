import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkHistory, parseHistory } from '@keyval/lincheck';
import type { Operation } from '@keyval/lincheck';
import { DEFAULT_OPTIONS } from './chaos-options';
import { writeReport } from './chaos-report';
import type { RunSummary } from './chaos-report';
import { runFolderName, summaryLine } from './chaos-run';

const ops: Operation[] = [
  { process: 0, key: 'k', f: 'put', value: 'a', status: 'ok', callTime: 0, returnTime: 5 },
  { process: 1, key: 'k', f: 'get', output: 'b', status: 'ok', callTime: 10, returnTime: 12 },
  { process: 2, key: 'k', f: 'cas', expected: 'a', newValue: 'c', status: 'info', callTime: 3, returnTime: 4_000 },
];

const summary: RunSummary = {
  workload: 'register',
  faults: 'kill,pause',
  seed: 9,
  members: 3,
  leaseReads: true,
  durationMs: 12_345,
  ops: 3,
  ok: 2,
  info: 1,
  fail: 0,
  verdict: 'NOT-linearizable',
  lost: 0,
  recovered: true,
  final: { read: true, lost: 0, details: { keys: 1 } },
  memberStarts: { n1: 2, n2: 1, n3: 1 },
};

describe('writeReport', () => {
  it('writes the history (JSON and EDN), the check with its counterexample, the timeline and an HTML page', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-report-'));
    try {
      const check = checkHistory(ops);
      expect(check.verdict).toBe('not-linearizable');
      const timeline = [{ kind: 'kill', variant: 'leader', startMs: 1, endMs: 9, targets: ['n1'], description: 'SIGKILL n1' }];
      writeReport(dir, { summary, options: DEFAULT_OPTIONS, ops, notes: ['n1', 'n2', 'n1>n2 DEADLINE_EXCEEDED'], check, timeline, errors: { 'DEADLINE_EXCEEDED: x': 1 } });
      const files = fs.readdirSync(dir).sort();
      expect(files).toEqual(['check.json', 'counterexample.txt', 'history.edn', 'history.json', 'index.html', 'operations.txt', 'summary.json', 'timeline.json']);
      const read = (name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');
      expect(parseHistory(read('history.json')).ops).toEqual(ops);
      expect(parseHistory(read('history.edn')).ops).toHaveLength(3);
      expect(JSON.parse(read('check.json'))).toMatchObject({ verdict: 'not-linearizable', counterexample: { text: expect.stringContaining('read "b"') } });
      expect(read('operations.txt').split('\n')[2]).toContain('n1>n2 DEADLINE_EXCEEDED');
      const html = read('index.html');
      expect(html).toContain('<svg');
      expect(html).toContain('SIGKILL n1');
      expect(html).toContain('NOT-linearizable');
      expect(html).not.toMatch(/<script|<link|src=/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('summaryLine', () => {
  it('is the format the issue asks for', () => {
    expect(summaryLine(summary)).toBe('chaos: register kill,pause ops=3 ok=2 info=1 fail=0 verdict=NOT-linearizable lost=0');
  });
});

describe('runFolderName', () => {
  it('is the UTC time and the workload', () => {
    expect(runFolderName('set', new Date('2026-11-27T09:08:07.123Z'))).toBe('20261127-090807-set');
  });
});
