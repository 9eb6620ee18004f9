/**
 * Proof (issue 6): a member added after the gateway started receives traffic once it leads.
 * Everything goes through the gateway, as an operator with only its address would do it:
 * `etcdctl member add --learner`, start the 4th member (`--initial-cluster-state existing`),
 * `etcdctl member promote` (or the members' automatic promotion), `etcdctl move-leader` to it;
 * then the gateway's writes are answered by the new member (the response header names it).
 * Finally an original member is removed and the gateway drops it.
 */
import * as path from 'node:path';
import { TestCluster, explain } from '../harness/cluster';
import { etcdctl, etcdctlOk, parseEtcdctlJson } from '../harness/etcdctl';
import { freePorts } from '../harness/free-ports';
import { TestMember } from '../harness/member-process';
import { waitFor } from '../harness/wait-for';
import { GatewayProcess } from './gateway-process';

jest.setTimeout(180_000);

interface MemberListJson {
  members: { ID: string; name: string; peerURLs: string[]; clientURLs?: string[]; isLearner?: boolean }[];
}

interface ReadyJson {
  ready: boolean;
  leader?: string;
  members: { id: string; name: string; address?: string; answering: boolean }[];
}

describe('a member added after the gateway started', () => {
  let cluster: TestCluster | undefined;
  let gateway: GatewayProcess | undefined;
  let added: TestMember | undefined;
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3 });
    gateway = await GatewayProcess.start({ endpoints: cluster.endpoints(), dir: cluster.dir });
  });

  afterAll(async () => {
    await added?.stop('SIGKILL').catch(() => undefined);
    await gateway?.stop('SIGKILL');
    await cluster?.close();
  });

  const readyz = async (): Promise<ReadyJson> => JSON.parse((await (gateway as GatewayProcess).httpGet('/readyz')).body) as ReadyJson;

  it(
    'is found, receives the writes once it leads, and a removed member is dropped',
    explain(c, async () => {
      const gw = gateway as GatewayProcess;
      const at = [gw.endpoint];
      const [clientPort, peerPort, metricsPort] = (await freePorts(3)) as [number, number, number];
      const spec = { name: 'n4', clientPort, peerPort, metricsPort, dataDir: path.join(c().dir, 'n4'), logFile: path.join(c().dir, 'n4.log') };

      // 1. Add it as a learner, through the gateway.
      const addOut = await etcdctlOk(at, ['member', 'add', 'n4', `--peer-urls=http://127.0.0.1:${peerPort}`, '--learner']);
      // etcdctl prints ids with %16x: padded with spaces when shorter than 16 hex digits.
      expect(addOut).toMatch(/Member +[0-9a-f]+ added to cluster/);
      const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(addOut)?.[1];
      expect(initialCluster).toContain(`n4=http://127.0.0.1:${peerPort}`);

      // 2. Start it, joining the existing cluster.
      added = new TestMember(spec, (m) => [
        `--name=${m.name}`,
        `--data-dir=${m.spec.dataDir}`,
        `--listen-client-urls=${m.clientUrl}`,
        `--advertise-client-urls=${m.clientUrl}`,
        `--listen-peer-urls=${m.peerUrl}`,
        `--initial-advertise-peer-urls=${m.peerUrl}`,
        `--listen-metrics-urls=${m.metricsUrl}`,
        `--initial-cluster=${initialCluster as string}`,
        '--initial-cluster-state=existing',
      ]);
      added.start();
      await added.waitReady(60_000);
      const n4 = added;
      const id = (await n4.status(2_000)).header?.memberId as bigint;
      const hex = id.toString(16);

      // 3. The gateway finds it through the member list, with its client address.
      await waitFor(async () => (await readyz()).members.some((m) => m.id === hex && m.address === n4.endpoint && m.answering), {
        timeoutMs: 20_000,
        what: 'the gateway to list and reach n4',
      });

      // 4. Promote it (the members may already have promoted a caught-up learner themselves).
      const promote = await etcdctl(at, ['member', 'promote', hex]);
      if (promote.code !== 0) expect(promote.stderr).toMatch(/can only promote a learner member|not a learner|already a voter/i);
      await waitFor(async () => (parseEtcdctlJson(await etcdctlOk(at, ['member', 'list', '-w', 'json'])) as MemberListJson).members.some((m) => BigInt(m.ID) === id && m.isLearner !== true), {
        timeoutMs: 30_000,
        what: 'n4 to be a voter',
      });

      // 5. Move leadership to it, through the gateway; the gateway follows without a failed request.
      await waitFor(
        async () => {
          const r = await etcdctl(at, ['move-leader', hex]);
          return r.code === 0 || (await readyz()).leader?.startsWith(`${hex}@`) === true;
        },
        { timeoutMs: 30_000, what: 'move-leader to n4 to succeed', intervalMs: 500 },
      );
      await waitFor(async () => (await readyz()).leader === `${hex}@${n4.endpoint}`, { timeoutMs: 10_000, what: 'the gateway to see n4 lead' });

      // 6. Writes through the gateway are now answered by n4 itself.
      for (let i = 0; i < 5; i++) {
        const put = parseEtcdctlJson(await etcdctlOk(at, ['put', `after-move/${i}`, 'v', '-w', 'json'])) as { header: { member_id: string } };
        expect(BigInt(put.header.member_id)).toBe(id);
      }
      expect(await etcdctlOk([n4.endpoint], ['get', 'after-move/4', '--print-value-only'])).toBe('v\n');

      // 7. Remove an original member through the gateway: it is dropped from the gateway's view.
      const victim = c().members[0] as TestMember;
      const victimId = (await victim.status(2_000)).header?.memberId as bigint;
      await etcdctlOk(at, ['member', 'remove', victimId.toString(16)]);
      await waitFor(async () => !(await readyz()).members.some((m) => m.id === victimId.toString(16)), { timeoutMs: 20_000, what: 'the gateway to drop the removed member' });
      expect(await etcdctlOk(at, ['put', 'after-remove', 'ok'])).toBe('OK\n');
    }),
  );
});
