/**
 * Conformance: snapshots (create, stream, receive, restore, retention) and, for durable
 * implementations, state across a reopen.
 */
import { ConfChangeType } from '@keyval/raft';
import { encodeMemberContext } from '../engine/membership';
import type { StateMachine } from '../state-machine';
import type { StateMachineFactory } from './conformance-harness.test';
import { dump, response } from './conformance-harness.test';
import { LogBuilder, session } from './log-builder.test';

/** Builds a machine with keys, deletes, sessions, a membership and log time. */
async function populate(sm: StateMachine, log: LogBuilder): Promise<void> {
  await sm.apply([log.confChange(ConfChangeType.AddVoter, 1n, encodeMemberContext({ name: 'one', peerUrls: ['http://a:1'], clientUrls: ['http://a:2'] }), [1n])]);
  const entries = [];
  for (let i = 0; i < 300; i++) {
    log.timeMs += 7;
    entries.push(log.put(`key/${String(i % 120).padStart(3, '0')}`, `value-${i}`, { prevKv: i % 3 === 0 }, i % 10 === 0 ? session(`client-${i}`, 1) : undefined));
  }
  entries.push(log.del('key/050', 'key/060'));
  entries.push(log.put('bin', '\u0000\u00ff', {}, session(42n, 1)));
  await sm.apply(entries);
}

async function state(sm: StateMachine): Promise<unknown> {
  return {
    data: await dump(sm),
    appliedIndex: sm.appliedIndex(),
    appliedTerm: sm.appliedTerm(),
    revision: sm.revision(),
    logTimeMs: sm.logTimeMs(),
    membership: sm.membership(),
    sessions: sm.sessions(),
  };
}

export function describeSnapshotConformance(factory: StateMachineFactory): void {
  describe('snapshots', () => {
    afterEach(() => factory.cleanup());

    it('snapshot then restore into a fresh machine gives identical state, ranges and sessions', async () => {
      const source = await factory.create({ snapshotChunkBytes: 1024 });
      const log = new LogBuilder();
      log.term = 3;
      await populate(source, log);
      const info = await source.createSnapshot();
      expect(info.meta).toEqual({ index: source.appliedIndex(), term: 3, config: { voters: [1n], learners: [] } });
      expect(info.revision).toBe(source.revision());
      expect(source.snapshots.latest()).toEqual(info);

      const target = await factory.create();
      const restored = await target.restore(info.path);
      expect(restored.meta).toEqual(info.meta);
      expect(await state(target)).toEqual(await state(source));
      const span = { key: Buffer.from('key/1'), rangeEnd: Buffer.from('key/2'), limit: 5 };
      expect(await target.range(span)).toEqual(await source.range(span));

      // Both continue identically: a retry is still answered from the restored session.
      const next = [log.put('bin', 'other', {}, session(42n, 1)), log.put('key/001', 'after', { prevKv: true })];
      expect(await target.apply(next)).toEqual(await source.apply(next));
      expect(await state(target)).toEqual(await state(source));
    });

    it('keeps a point in time while applies continue, and prunes to snapshotsRetained', async () => {
      const sm = await factory.create({ snapshotsRetained: 2 });
      const log = new LogBuilder();
      await sm.apply([log.put('a', '1')]);
      const first = await sm.createSnapshot();
      await sm.apply([log.put('a', '2')]);
      const [second] = await Promise.all([sm.createSnapshot(), sm.apply([log.put('a', '3')])]);
      await sm.apply([log.put('a', '4')]);
      const third = await sm.createSnapshot();
      expect(sm.snapshots.list().map((f) => f.meta.index)).toEqual([second.meta.index, third.meta.index]);
      expect(first.meta.index).toBe(1);
      // The snapshot was asked for first: it holds index 2 although the put of "3" ran meanwhile.
      expect(second.meta.index).toBe(2);
      const target = await factory.create();
      await target.restore(second.path);
      expect(target.appliedIndex()).toBe(2);
      expect((await dump(target)).kvs).toEqual(['a=2@c2/m3/v2']);
    });

    it('streams a snapshot in pieces of any size to a receiver that writes it, then restores it', async () => {
      const source = await factory.create({ snapshotChunkBytes: 512 });
      const log = new LogBuilder();
      await populate(source, log);
      const info = await source.createSnapshot();
      const target = await factory.create();
      const receiver = target.snapshots.receiver();
      let pieces = 0;
      for await (const frame of source.snapshots.frames(info)) {
        for (let at = 0; at < frame.byteLength; at += 333) {
          await receiver.write(frame.subarray(at, at + 333));
          pieces++;
        }
      }
      expect(pieces).toBeGreaterThan(10);
      const received = await receiver.finish();
      expect(received.meta).toEqual(info.meta);
      expect(received.sizeBytes).toBe(info.sizeBytes);
      expect(target.snapshots.latest()?.fileName).toBe(info.fileName);
      await target.restore(received.path);
      expect(await state(target)).toEqual(await state(source));
    });

    if (factory.reopen !== undefined) {
      const reopen = factory.reopen.bind(factory);
      it('keeps the applied index, data, sessions and membership across a reopen, without re-applying', async () => {
        const sm = await factory.create();
        const log = new LogBuilder();
        await populate(sm, log);
        const before = await state(sm);
        const reopened = await reopen(sm);
        expect(await state(reopened)).toEqual(before);
        const [retry, fresh] = await reopened.apply([log.put('bin', 'again', {}, session(42n, 1)), log.put('new', 'n')]);
        expect(retry).toMatchObject({ kind: 'response', replayed: true });
        expect(response(fresh, 'put').header.revision).toBe(reopened.revision());
      });

      it('restores over existing state and keeps the restored state across a reopen', async () => {
        const source = await factory.create();
        const log = new LogBuilder();
        await populate(source, log);
        const info = await source.createSnapshot();
        const target = await factory.create();
        const other = new LogBuilder();
        await target.apply([other.put('stale', 'x'), other.put('zzz', 'y', {}, session('gone', 1))]);
        await target.restore(info.path);
        const expected = await state(source);
        expect(await state(target)).toEqual(expected);
        expect(await state(await reopen(target))).toEqual(expected);
      });
    }
  });
}
