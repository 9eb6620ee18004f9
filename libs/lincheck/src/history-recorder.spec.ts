import { checkHistory } from './check';
import { HistoryRecorder } from './history-recorder';
import { InvalidHistoryError } from './lincheck.error';

describe('HistoryRecorder', () => {
  it('pairs invocations with completions; unfinished ones are indeterminate', () => {
    const recorder = new HistoryRecorder();
    const put = recorder.invoke({ process: 1, key: 'k', f: 'put', value: 'a' }, 10);
    const read = recorder.invoke({ process: 2, key: 'k', f: 'get' }, 11);
    const swap = recorder.invoke({ process: 3, key: 'k', f: 'cas', expected: 'a', newValue: 'b' }, 12);
    recorder.invoke({ process: 4, key: 'k', f: 'delete' }, 13);
    recorder.complete(read, 14, { status: 'ok', output: 'a' });
    recorder.complete(put, 15, { status: 'ok' });
    recorder.complete(swap, 16, { status: 'ok', succeeded: false });
    expect(recorder.operations()).toEqual([
      { process: 1, key: 'k', callTime: 10, returnTime: 15, status: 'ok', f: 'put', value: 'a' },
      { process: 2, key: 'k', callTime: 11, returnTime: 14, status: 'ok', f: 'get', output: 'a' },
      { process: 3, key: 'k', callTime: 12, returnTime: 16, status: 'ok', f: 'cas', expected: 'a', newValue: 'b', succeeded: false },
      { process: 4, key: 'k', callTime: 13, returnTime: null, status: 'info', f: 'delete' },
    ]);
    // The cas saw no "a": only possible if the pending delete took effect first.
    expect(checkHistory(recorder.operations()).verdict).toBe('linearizable');
  });

  it('records fail and info outcomes', () => {
    const recorder = new HistoryRecorder();
    recorder.complete(recorder.invoke({ process: 0, key: 'k', f: 'append', value: 'x' }, 0), 1, { status: 'fail' });
    recorder.complete(recorder.invoke({ process: 1, key: 'k', f: 'get' }, 2), 3, { status: 'info' });
    expect(recorder.operations().map((op) => [op.f, op.status, op.returnTime])).toEqual([
      ['append', 'fail', 1],
      ['get', 'info', 3],
    ]);
  });

  it.each<[string, (recorder: HistoryRecorder) => void, string]>([
    ['an unknown id', (recorder) => recorder.complete(5, 0, { status: 'ok' }), 'operation 5: no such invocation'],
    [
      'a second completion',
      (recorder) => {
        const id = recorder.invoke({ process: 0, key: 'k', f: 'delete' }, 0);
        recorder.complete(id, 1, { status: 'ok' });
        recorder.complete(id, 2, { status: 'fail' });
      },
      'operation 0: already completed (ok)',
    ],
    ['an ok get without output', (recorder) => recorder.complete(recorder.invoke({ process: 0, key: 'k', f: 'get' }, 0), 1, { status: 'ok' }), 'an ok get needs output'],
    [
      'an ok cas without succeeded',
      (recorder) => recorder.complete(recorder.invoke({ process: 0, key: 'k', f: 'cas', expected: null, newValue: 'a' }, 0), 1, { status: 'ok' }),
      'an ok cas needs succeeded',
    ],
    [
      'a return before the call',
      (recorder) => {
        recorder.complete(recorder.invoke({ process: 0, key: 'k', f: 'delete' }, 5), 4, { status: 'ok' });
        recorder.operations();
      },
      'returnTime 4 is before callTime 5',
    ],
    [
      'too many operations',
      (recorder) => {
        for (let i = 0; i < 3; i++) {
          recorder.invoke({ process: i, key: 'k', f: 'get' }, i);
        }
      },
      'more than 2 operations recorded',
    ],
  ])('rejects %s', (_name, act, message) => {
    const recorder = new HistoryRecorder(2);
    expect(() => act(recorder)).toThrow(InvalidHistoryError);
    expect(() => act(new HistoryRecorder(2))).toThrow(message);
  });
});
