/**
 * Proof (issue 15, Watch): watches on a 3-member cluster of real processes through clients no
 * one here wrote — `etcdctl watch` (from a past revision, with --prev-kv, a prefix) and the
 * `etcd3` npm client (live events, filters, cancel) — on any member; and a watcher that
 * resumes on another member after its member was killed gets every revision once, in order.
 */
import { spawn } from 'node:child_process';
import type { IKeyValue, Watcher } from 'etcd3';
import { clusterForSuite, explain } from './harness/cluster';
import { etcd3ClientsForSuite } from './harness/etcd3-clients';
import { etcdctlOk, findEtcdctl, parseEtcdctlJson } from './harness/etcdctl';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';

jest.setTimeout(90_000);

/** Runs `etcdctl watch …` until its output satisfies `done`, then stops it; returns the output. */
async function etcdctlWatch(endpoint: string, args: readonly string[], done: (stdout: string) => boolean, whileRunning: () => Promise<void>): Promise<string> {
  const bin = findEtcdctl();
  if (bin === undefined) throw new Error('etcdctl is not installed');
  const child = spawn(bin, [`--endpoints=${endpoint}`, 'watch', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  try {
    await whileRunning();
    await waitFor(() => done(stdout), { timeoutMs: 15_000, what: `etcdctl watch output (so far: ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)})` });
    return stdout;
  } finally {
    child.kill('SIGKILL');
  }
}

describe('watch', () => {
  const c = clusterForSuite({ size: 3 });
  const clientOf = etcd3ClientsForSuite();

  it(
    'etcdctl watch --rev replays the history with --prev-kv, then follows live writes, on a follower',
    explain(c, async () => {
      const leader = await c().leader();
      const follower = c().followersOf(leader)[0] as TestMember;
      await etcdctlOk([leader.endpoint], ['put', 'w/a', 'one']);
      const first = (parseEtcdctlJson(await etcdctlOk([leader.endpoint], ['get', 'w/a', '-w', 'json'])) as { header: { revision: number } }).header.revision;
      await etcdctlOk([leader.endpoint], ['put', 'w/a', 'two']);
      await etcdctlOk([leader.endpoint], ['del', 'w/a']);
      const out = await etcdctlWatch(
        follower.endpoint,
        ['w/', '--prefix', `--rev=${first}`, '--prev-kv'],
        (s) => s.includes('w/b\nlive'),
        async () => {
          await etcdctlOk([leader.endpoint], ['put', 'w/b', 'live']);
        },
      );
      expect(out).toBe('PUT\nw/a\none\nPUT\nw/a\none\nw/a\ntwo\nDELETE\nw/a\ntwo\nw/a\n\nPUT\nw/b\nlive\n');
    }),
  );

  it(
    'the etcd3 client: put and delete events, a NOPUT filter, prev values, cancel',
    explain(c, async () => {
      const etcd = clientOf(c().members);
      const events: string[] = [];
      const deletesOnly: string[] = [];
      const watcher: Watcher = await etcd.watch().prefix('e3/').withPreviousKV().create();
      watcher.on('put', (kv: IKeyValue, prev?: IKeyValue) => events.push(`put ${kv.key.toString()}=${kv.value.toString()} prev ${prev?.value.toString() ?? '-'}`));
      watcher.on('delete', (kv: IKeyValue) => events.push(`delete ${kv.key.toString()}`));
      // etcd3 1.1.2 maps ignore('delete') to NOPUT (and 'put' to NODELETE), whatever the names
      // say: this watcher asks the server for deletes only, as it would from etcd.
      const deletes = await etcd.watch().prefix('e3/').ignore('delete').create();
      let cancelled = false;
      try {
        deletes.on('delete', (kv: IKeyValue) => deletesOnly.push(kv.key.toString()));
        await etcd.put('e3/x').value('1');
        await etcd.put('e3/x').value('2');
        await etcd.delete().key('e3/x');
        await waitFor(() => events.length === 3 && deletesOnly.length === 1, { timeoutMs: 10_000, what: 'three events' });
        expect(events).toEqual(['put e3/x=1 prev -', 'put e3/x=2 prev 1', 'delete e3/x']);
        expect(deletesOnly).toEqual(['e3/x']);
        await watcher.cancel();
        cancelled = true;
        await etcd.put('e3/after').value('cancel');
        await waitFor(() => deletesOnly.length === 1, { timeoutMs: 1_000, what: 'nothing more' });
        expect(events).toHaveLength(3);
      } finally {
        // A second cancel of the same watcher is never answered (by etcd either): the client
        // would wait for its end forever.
        if (!cancelled) await watcher.cancel();
        await deletes.cancel();
      }
    }),
  );

  it(
    'a watcher whose member is killed resumes on another from its last revision: every revision once, in order',
    explain(c, async () => {
      const leader = await c().leader();
      const [watched, other] = c().followersOf(leader) as [TestMember, TestMember];
      const etcd = clientOf([watched, other]);
      const writer = clientOf([leader]);
      const seen: number[] = [];
      const watcher = await etcd.watch().key('r/key').create();
      watcher.on('put', (kv: IKeyValue) => seen.push(Number(kv.mod_revision)));
      const cleanup = (): Promise<void> => watcher.cancel();
      const written: number[] = [];
      const write = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) {
          const put = await writer.put('r/key').value(String(i));
          written.push(Number(put.header.revision));
        }
      };
      await write(20);
      try {
        await waitFor(() => seen.length === 20, { timeoutMs: 10_000, what: 'the first 20 events' });
        await watched.stop('SIGKILL');
        await write(20);
        await waitFor(() => seen.length >= 40, { timeoutMs: 20_000, what: 'the events after the kill, from the other member' });
        expect(seen).toEqual(written);
      } finally {
        await cleanup();
      }
      await c().restart(watched);
    }),
  );
});
