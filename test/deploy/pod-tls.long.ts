/**
 * Mutual TLS on the pod simulation (pod-sim.ts): the dev overlay with the tls component
 * (deployments/kubernetes/components/tls), its Secrets made from a throwaway CA with the SANs
 * docs/security.md lists (one member certificate for every pod: `*.keyval-peer.<ns>.svc.<domain>`
 * and the client Service's names). Three pods start in parallel over https:// — their start
 * (Cluster.MemberList between pods) over mutual TLS on the peer port — and form one cluster; a
 * fourth pod (scale-up) is added as a learner through a running member's https:// client URL
 * and promoted; etcdctl with a client certificate writes and reads on every member and is
 * refused without one; the gateway reaches the members over TLS with its own certificate.
 * `npm run test:deploy`; needs root and `ip netns`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ThrowawayCa } from '@keyval/grpc';
import { waitFor } from '../integration/harness/wait-for';
import { PodSimulation } from './pod-sim';
import { type ClientCerts, SIM_NAMESPACE, certFlags, clientEndpoints, explained, memberList, simulateOverlay, startGateway, startMembers } from './pod-scenarios';

jest.setTimeout(900_000); // beforeAll may wait for the simulation lock (another run of a pod suite)

/** A Secret as the kubelet projects it: one file per key. */
function secretDir(root: string, name: string, files: Record<string, string>): string {
  const dir = path.join(root, 'secrets', name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [key, from] of Object.entries(files)) fs.copyFileSync(from, path.join(dir, key));
  return dir;
}

describe('the keyval StatefulSet with the tls component (dev overlay) on a pod simulation', () => {
  let sim: PodSimulation;
  let dir: string;
  let client: ClientCerts;
  const explain = (body: () => Promise<void>): (() => Promise<void>) => explained(() => sim, body);
  const etcdctl = (endpoints: string, args: readonly string[], certs: readonly string[] = certFlags(client)) => sim.runTool('etcdctl', [`--endpoints=${endpoints}`, ...certs, '--command-timeout=10s', ...args]);
  const podUrl = (ordinal: number): string => `https://keyval-${ordinal}.keyval-peer.${SIM_NAMESPACE}.svc.cluster.local:2379`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvpod-tls-'));
    const ca = await ThrowawayCa.create(path.join(dir, 'pki'));
    const clientService = ['keyval-client', `keyval-client.${SIM_NAMESPACE}`, `keyval-client.${SIM_NAMESPACE}.svc`, `keyval-client.${SIM_NAMESPACE}.svc.cluster.local`];
    const member = await ca.issue('keyval-member', { hosts: [`*.keyval-peer.${SIM_NAMESPACE}.svc.cluster.local`, ...clientService] });
    const gateway = await ca.issue('keyval-gateway');
    const user = await ca.issue('user');
    client = { caFile: ca.caFile, certFile: user.certFile, keyFile: user.keyFile };
    const secrets = {
      'keyval-tls': secretDir(dir, 'keyval-tls', { 'tls.crt': member.certFile, 'tls.key': member.keyFile, 'ca.crt': ca.caFile }),
      'keyval-gateway-tls': secretDir(dir, 'keyval-gateway-tls', { 'tls.crt': gateway.certFile, 'tls.key': gateway.keyFile, 'ca.crt': ca.caFile }),
    };
    sim = await simulateOverlay('dev', { components: ['components/tls'], secrets });
  });

  afterAll(async () => {
    await sim?.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts three pods in parallel over https://, before their DNS names resolve, and they form one cluster', explain(async () => {
    const pods = await startMembers(sim, 3);
    const list = await memberList(sim, client);
    expect(list.members.map((m) => m.name).sort()).toEqual(['keyval-0', 'keyval-1', 'keyval-2']);
    expect(list.members.every((m) => !m.isLearner)).toBe(true);
    expect(list.members.find((m) => m.name === 'keyval-1')).toMatchObject({
      peerUrls: [`https://keyval-1.keyval-peer.${SIM_NAMESPACE}.svc.cluster.local:2380`],
      clientUrls: [podUrl(1)],
    });
    for (const p of pods) expect(p.logTail(400)).toContain('"start":"bootstrap"');
  }));

  it('serves etcdctl with a client certificate on every member, and refuses it without one', explain(async () => {
    const put = await etcdctl(podUrl(0), ['put', 'tls/greeting', 'over-mtls']);
    expect(put).toMatchObject({ code: 0, stdout: 'OK\n' });
    for (const k of [1, 2]) {
      const get = await etcdctl(podUrl(k), ['get', 'tls/greeting', '--print-value-only']);
      expect(get).toMatchObject({ code: 0, stdout: 'over-mtls\n' });
    }
    const refused = await etcdctl(podUrl(1), ['get', 'tls/greeting'], [`--cacert=${client.caFile}`]);
    expect(refused.code).not.toBe(0);
  }));

  it('scales up: the new pod is added as a learner through a running member over TLS, joins over https://, is promoted and serves', explain(async () => {
    const [added] = await startMembers(sim, 4, 3);
    const log = added?.logTail(400) ?? '';
    expect(log).toContain('adding this pod to the running cluster as a learner');
    expect(log).toContain('"start":"join"');
    await waitFor(async () => {
      const list = await memberList(sim, client);
      return list.members.length === 4 && list.members.every((m) => !m.isLearner) ? true : undefined;
    }, { timeoutMs: 120_000, what: 'keyval-3 promoted to voter', intervalMs: 1_000 });
    const list = await memberList(sim, client);
    expect(list.members.find((m) => m.name === 'keyval-3')?.peerUrls).toEqual([`https://keyval-3.keyval-peer.${SIM_NAMESPACE}.svc.cluster.local:2380`]);
    await expect(etcdctl(podUrl(3), ['get', 'tls/greeting', '--print-value-only'])).resolves.toMatchObject({ code: 0, stdout: 'over-mtls\n' });
    await expect(etcdctl(clientEndpoints(sim, true), ['put', 'tls/after-scale', 'four'])).resolves.toMatchObject({ code: 0 });
  }));

  it('runs the gateway towards the members over TLS with its own client certificate', explain(async () => {
    await startGateway(sim);
    const target = sim.serviceTarget('keyval-gateway', 2379);
    const put = await sim.runTool('etcdctl', [`--endpoints=${target}`, '--command-timeout=10s', 'put', 'tls/through-gateway', 'yes']);
    expect(put).toMatchObject({ code: 0, stdout: 'OK\n' });
    await expect(etcdctl(podUrl(2), ['get', 'tls/through-gateway', '--print-value-only'])).resolves.toMatchObject({ code: 0, stdout: 'yes\n' });
  }));
});
