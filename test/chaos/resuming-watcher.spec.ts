import { GrpcChannel, GrpcServer, GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { etcd, mvcc } from '@keyval/proto';
import { ResumingWatcher } from './resuming-watcher';

/** One event as a member sends it. */
const put = (key: string, revision: number): mvcc.Event =>
  mvcc.Event.fromPartial({ type: mvcc.Event_EventType.PUT, kv: { key: Buffer.from(key), value: Buffer.from(`v${revision}`), modRevision: BigInt(revision) } });

/**
 * A member whose Watch stream follows `script(startRevision)`: the events it sends from the
 * start revision the client asked for, then how it ends — `fail` at the second progress
 * request after them (by then the client has read them: our client drops messages still
 * queued when a call fails, and a watcher must resume after what it received, not what was sent).
 */
class ScriptedWatchMember {
  readonly server = new GrpcServer();
  readonly starts: number[] = [];
  port = 0;

  constructor(script: (start: number) => { events: number[]; then: 'fail' | 'progress' | 'compacted' }) {
    this.server.addService(etcd.WatchDefinition, {
      watch: async (requests, call) => {
        let progressAsked = 0;
        let plan: { events: number[]; then: 'fail' | 'progress' | 'compacted' } | undefined;
        for await (const request of requests) {
          // The member's revision: the last event it has (so a progress answer promises no more).
          const header = etcd.ResponseHeader.fromPartial({ revision: BigInt(Math.max(1, ...(plan?.events ?? []))) });
          if (request.requestUnion?.$case === 'createRequest') {
            const start = Number(request.requestUnion.value.startRevision);
            this.starts.push(start);
            plan = script(start);
            header.revision = BigInt(Math.max(1, ...plan.events));
            await call.write(etcd.WatchResponse.fromPartial({ header, watchId: 0n, created: true }));
            if (plan.then === 'compacted') {
              await call.write(etcd.WatchResponse.fromPartial({ header, watchId: 0n, canceled: true, compactRevision: 3n }));
              continue;
            }
            await call.write(etcd.WatchResponse.fromPartial({ header, watchId: 0n, events: plan.events.map((r) => put('watch/0', r)) }));
          } else if (request.requestUnion?.$case === 'progressRequest') {
            if (plan?.then === 'fail' && ++progressAsked === 2) throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'the member went away');
            await call.write(etcd.WatchResponse.fromPartial({ header, watchId: -1n }));
          }
        }
      },
    });
  }
}

describe('ResumingWatcher', () => {
  const members: ScriptedWatchMember[] = [];
  const channels: GrpcChannel[] = [];

  async function endpoints(...scripted: ScriptedWatchMember[]): Promise<Array<{ name: string; channel: GrpcChannel }>> {
    members.push(...scripted);
    const out = [];
    for (const [k, m] of scripted.entries()) {
      m.port = (await m.server.listen(0, '127.0.0.1')).port;
      const channel = new GrpcChannel(`127.0.0.1:${m.port}`);
      channels.push(channel);
      out.push({ name: `m${k}`, channel });
    }
    return out;
  }

  afterEach(async () => {
    for (const c of channels.splice(0)) c.close();
    await Promise.all(members.splice(0).map((m) => m.server.shutdown(100)));
  });

  const options = { name: 'w', key: 'watch/0', prefix: false, startRevision: 1, home: 0, progressEveryMs: 50, stallMs: 5_000, wantProgress: () => true };

  it('resumes on the next member from the revision after the last event it received, and reaches the progress revision', async () => {
    const first = new ScriptedWatchMember(() => ({ events: [2, 3, 4], then: 'fail' }));
    const second = new ScriptedWatchMember((start) => ({ events: [2, 3, 4, 5, 6].filter((r) => r >= start), then: 'progress' }));
    const watcher = new ResumingWatcher(await endpoints(first, second), options);
    watcher.start();
    expect(await watcher.waitReached(6, 5_000)).toBe(true);
    await watcher.stop();
    expect(first.starts).toEqual([1]);
    expect(second.starts).toEqual([5]);
    expect(watcher.events.map((e) => e.modRevision)).toEqual([2, 3, 4, 5, 6]);
    expect(watcher.record()).toMatchObject({ reachedRevision: 6, streams: 2 });
  });

  it('records a cancel with compact_revision and stops (it cannot resume)', async () => {
    const member = new ScriptedWatchMember(() => ({ events: [], then: 'compacted' }));
    const watcher = new ResumingWatcher(await endpoints(member), options);
    watcher.start();
    expect(await watcher.waitReached(6, 2_000)).toBe(false);
    await watcher.stop();
    expect(watcher.record()).toMatchObject({ compactRevision: 3, streams: 1, events: [] });
  });
});
