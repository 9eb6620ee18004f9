import type { AttemptedWrite, SeenEvent, WatchCheckInput, WatcherRecord } from './watch-check';
import { checkWatchRun } from './watch-check';

const put = (key: string, value: string, modRevision: number): SeenEvent => ({ key, type: 'put', value, modRevision });
const del = (key: string, modRevision: number): SeenEvent => ({ key, type: 'delete', value: null, modRevision });

/** revisions 2..7: puts and a delete on two keys (revision 1 is the empty store's). */
const HISTORY: readonly SeenEvent[] = [put('watch/0', '0.0', 2), put('watch/1', '1.0', 3), put('watch/0', '0.1', 4), del('watch/1', 5), put('watch/1', '1.1', 6), put('watch/0', '0.2', 7)];

const WRITES: readonly AttemptedWrite[] = [
  { key: 'watch/0', value: '0.0', status: 'ok', revision: 2 },
  { key: 'watch/1', value: '1.0', status: 'ok', revision: 3 },
  // Unanswered, yet applied: allowed in the history.
  { key: 'watch/0', value: '0.1', status: 'info' },
  { key: 'watch/1', value: null, status: 'ok', revision: 5, deleted: 1 },
  // A delete of an absent key makes no revision.
  { key: 'watch/1', value: null, status: 'ok', revision: 5, deleted: 0 },
  { key: 'watch/1', value: '1.1', status: 'ok', revision: 6 },
  { key: 'watch/0', value: '0.2', status: 'ok', revision: 7 },
  // Refused, never applied.
  { key: 'watch/0', value: '0.9', status: 'fail' },
];

function watcher(name: string, key: string, prefix: boolean, events: readonly SeenEvent[], extra: Partial<WatcherRecord> = {}): WatcherRecord {
  return { name, key, prefix, events, reachedRevision: 7, streams: 1, ...extra };
}

const mine = (key: string): SeenEvent[] => HISTORY.filter((e) => e.key === key);

function input(watchers: readonly WatcherRecord[], overrides: Partial<WatchCheckInput> = {}): WatchCheckInput {
  return {
    writes: WRITES,
    watchers,
    histories: new Map([
      ['n1', HISTORY],
      ['n2', HISTORY],
      ['n3', HISTORY],
    ]),
    compacts: false,
    ...overrides,
  };
}

const kinds = (i: WatchCheckInput): string[] => checkWatchRun(i).violations.map((v) => v.kind);

describe('checkWatchRun', () => {
  it('passes watchers that saw every revision of their keys once and in order, across reconnects', () => {
    const result = checkWatchRun(
      input([watcher('prefix', 'watch/', true, HISTORY, { streams: 3 }), watcher('key0', 'watch/0', false, mine('watch/0')), watcher('key1', 'watch/1', false, mine('watch/1'))]),
    );
    expect(result.violations).toEqual([]);
    expect(result).toMatchObject({ historyEvents: 6, delivered: 12, read: true, unread: [] });
  });

  it('passes a watcher that reached only revision 4 and saw everything up to it', () => {
    expect(kinds(input([watcher('early', 'watch/', true, HISTORY.slice(0, 3), { reachedRevision: 4 })]))).toEqual([]);
  });

  it('finds a gap: a revision of a watched key never delivered', () => {
    const events = HISTORY.filter((e) => e.modRevision !== 5);
    const result = checkWatchRun(input([watcher('prefix', 'watch/', true, events)]));
    expect(result.violations).toEqual([{ kind: 'gap', text: expect.stringContaining('never saw delete watch/1=∅@5') }]);
  });

  it('finds a gap before the revision a progress answer promised', () => {
    expect(kinds(input([watcher('key0', 'watch/0', false, mine('watch/0').slice(0, 2), { reachedRevision: 7 })]))).toEqual(['gap']);
  });

  it('finds a duplicate: a revision delivered twice (a resume from the last revision instead of the next)', () => {
    const events = [...HISTORY.slice(0, 4), HISTORY[3] as SeenEvent, ...HISTORY.slice(4)];
    expect(kinds(input([watcher('prefix', 'watch/', true, events, { streams: 2 })]))).toEqual(['duplicate']);
  });

  it('finds events out of order', () => {
    const events = [HISTORY[0], HISTORY[2], HISTORY[1], ...HISTORY.slice(3)] as SeenEvent[];
    expect(kinds(input([watcher('prefix', 'watch/', true, events)]))).toEqual(['out-of-order']);
  });

  it('finds a mismatch: a value at a revision where the history has another, and an event of a key not watched', () => {
    const wrong = HISTORY.map((e) => (e.modRevision === 4 ? put('watch/0', '9.9', 4) : e));
    expect(kinds(input([watcher('prefix', 'watch/', true, wrong)]))).toEqual(['mismatch']);
    expect(kinds(input([watcher('key0', 'watch/0', false, [...mine('watch/0'), put('watch/1', '1.1', 8)].sort((a, b) => a.modRevision - b.modRevision))]))).toEqual(['mismatch']);
  });

  it('finds a compact_revision cancel in a run that never compacts, and allows it in one that does', () => {
    const w = watcher('prefix', 'watch/', true, HISTORY, { compactRevision: 3 });
    expect(kinds(input([w]))).toEqual(['compacted']);
    expect(kinds(input([w], { compacts: true }))).toEqual([]);
  });

  it('finds an acknowledged write missing from the history (lost) and one nobody wrote (unexpected)', () => {
    const lossy = HISTORY.filter((e) => e.modRevision !== 6);
    const histories = new Map([['n1', lossy]]);
    const lost = checkWatchRun(input([], { histories }));
    expect(lost.violations.map((v) => v.kind)).toEqual(['lost']);
    expect(lost.counts.lost).toBe(1);
    const invented = [...HISTORY, put('watch/0', '0.9', 8)];
    expect(kinds(input([], { histories: new Map([['n1', invented]]) }))).toEqual(['unexpected']);
  });

  it('finds members whose histories differ, and reports a member that could not be read', () => {
    const other = HISTORY.slice(0, 5);
    const result = checkWatchRun(input([], { histories: new Map<string, readonly SeenEvent[] | undefined>([['n1', HISTORY], ['n2', other], ['n3', undefined]]) }));
    expect(result.violations.map((v) => v.kind)).toEqual(['divergent']);
    expect(result.unread).toEqual(['n3']);
    expect(result.read).toBe(true);
  });

  it('checks nothing against a history it could not read (unknown, not a violation)', () => {
    const result = checkWatchRun(input([watcher('prefix', 'watch/', true, HISTORY)], { histories: new Map([['n1', undefined]]) }));
    expect(result).toMatchObject({ violations: [], read: false, unread: ['n1'] });
  });
});
