/**
 * Proof (issue 4): the member's command line. Bad flags (or their KEYVAL_* environment
 * equivalents) → exit code 2 and a one-line message naming the flag; --help exits 0 and
 * documents every flag; a cluster restarted with the same flags on its existing data dirs
 * resumes (the initial-cluster flags are then ignored, as etcd does).
 */
import { SERVER_LIMIT_FLAGS } from '@keyval/ops';
import { etcd } from '@keyval/proto';
import { TestCluster, explain } from './harness/cluster';
import { bytes, readPrefix } from './harness/kv-helpers';
import { runKeyval } from './harness/member-process';

jest.setTimeout(90_000);

/** [what, argv, extra environment, the flag the message must name] */
const BAD_FLAGS: [string, string[], Record<string, string>, string][] = [
  ['a heartbeat that is not a number', ['--heartbeat-interval', 'abc'], {}, '--heartbeat-interval'],
  ['an unknown cluster state', ['--initial-cluster-state', 'maybe'], {}, '--initial-cluster-state'],
  ['an election timeout under 3 heartbeats', ['--heartbeat-interval', '50', '--election-timeout', '100'], {}, '--election-timeout'],
  ['a client URL that is not a URL', ['--listen-client-urls', 'not-a-url'], {}, '--listen-client-urls'],
  ['an https peer URL without --peer-cert-file', ['--listen-peer-urls', 'https://127.0.0.1:2380'], {}, '--listen-peer-urls'],
  ['--client-cert-auth without --trusted-ca-file', ['--cert-file', 'c.pem', '--key-file', 'k.pem', '--client-cert-auth'], {}, '--client-cert-auth'],
  ['an unknown cipher suite', ['--cipher-suites', 'TLS_NOPE'], {}, '--cipher-suites'],
  ['a TLS version that is not 1.2 or 1.3', ['--tls-min-version', 'TLS1.1'], {}, '--tls-min-version'],
  ['an initial cluster entry without a URL', ['--initial-cluster', 'n1'], {}, '--initial-cluster'],
  ['a zero request size limit', ['--max-request-bytes', '0'], {}, '--max-request-bytes'],
  ['an unknown log level', ['--log-level', 'loud'], {}, '--log-level'],
  ['a flag without its value', ['--heartbeat-interval'], {}, '--heartbeat-interval'],
  ['an unknown flag', ['--no-such-flag'], {}, '--no-such-flag'],
  ['a bad KEYVAL_* environment variable', [], { KEYVAL_HEARTBEAT_INTERVAL: 'abc' }, '--heartbeat-interval'],
  ['a stream limit of 0', ['--max-concurrent-streams', '0'], {}, '--max-concurrent-streams'],
  ['an idle timeout that is not a duration', ['--idle-timeout', 'soon'], {}, '--idle-timeout'],
  ['an unknown auto-compaction mode', ['--auto-compaction-mode', 'weekly'], {}, '--auto-compaction-mode'],
  ['an auto-compaction retention that is no duration', ['--auto-compaction-retention', '1 hour'], {}, '--auto-compaction-retention'],
];

/** Every flag issue 4 names, plus the operational ones. */
const DOCUMENTED_FLAGS = [
  '--name',
  '--data-dir',
  '--listen-client-urls',
  '--advertise-client-urls',
  '--listen-peer-urls',
  '--initial-advertise-peer-urls',
  '--initial-cluster',
  '--initial-cluster-state',
  '--initial-cluster-token',
  '--heartbeat-interval',
  '--election-timeout',
  '--listen-metrics-urls',
  '--max-request-bytes',
  '--request-timeout',
  ...SERVER_LIMIT_FLAGS.map((f) => f.flag),
  '--auto-compaction-mode',
  '--auto-compaction-retention',
  '--help',
];

describe('the member command line (real processes)', () => {
  it.concurrent.each(BAD_FLAGS)('%s → exit 2 and one line naming the flag', async (_what, argv, env, flag) => {
    const r = await runKeyval(argv, { env });
    expect(r.code).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^keyval: /);
    expect(lines[0]).toContain(flag);
    // The message, then at most a hint; never a stack trace or a dump of the help.
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });

  it('--help exits 0 and documents every flag with its environment variable', async () => {
    const r = await runKeyval(['--help']);
    expect(r.code).toBe(0);
    for (const flag of DOCUMENTED_FLAGS) {
      expect(r.stdout).toContain(`${flag} `);
    }
    expect(r.stdout).toContain('KEYVAL_HEARTBEAT_INTERVAL');
    expect(r.stdout).toContain('KEYVAL_INITIAL_CLUSTER');
    expect(r.stderr).toBe('');
  });

  describe('restarting with the same flags on existing data', () => {
    let cluster: TestCluster | undefined;
    const c = (): TestCluster => {
      if (cluster === undefined) throw new Error('the cluster did not start');
      return cluster;
    };

    afterAll(async () => {
      await cluster?.close();
    });

    it(
      'a whole cluster stopped and restarted with the same flags resumes: same members, data still there',
      explain(c, async () => {
        cluster = await TestCluster.start({ size: 3 });
        const leader = await cluster.leader();
        for (let i = 0; i < 20; i++) {
          await leader.kv().put(etcd.PutRequest.fromPartial({ key: bytes(`resume/${i}`), value: bytes(`v${i}`) }), { timeoutMs: 5_000 });
        }
        const ids = cluster.members.map((m) => m.id);
        const exits = await Promise.all(cluster.members.map((m) => m.stop('SIGTERM')));
        expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);

        // The data dir knows its member: another --name on it is refused, clearly.
        const n1 = cluster.member('n1');
        const wrongName = await runKeyval(n1.argv().slice(1).map((a) => (a === '--name=n1' ? '--name=n9' : a)));
        expect(wrongName.code).not.toBe(0);
        expect(wrongName.stderr).toMatch(/--name n9 does not match the data dir, which belongs to member n1/);

        // Same flags, including --initial-cluster-state=new: ignored on existing data.
        for (const m of cluster.members) {
          m.start();
        }
        await cluster.waitReady(cluster.members, 30_000);
        await cluster.leader();
        expect(cluster.members.map((m) => m.id)).toEqual(ids);
        for (const m of cluster.members) {
          const found = await readPrefix(m, 'resume/');
          expect(found.size).toBe(20);
          expect(found.get('resume/7')).toBe('v7');
        }
        const after = await cluster.member('n2').kv().put(etcd.PutRequest.fromPartial({ key: bytes('resume/after'), value: bytes('yes') }), { timeoutMs: 5_000 });
        expect(after.header?.revision).toBeGreaterThan(20n);
      }),
    );
  });
});
