import { PodIdentityError, parsePodName, podIdentity, podsToProbe } from './pod-identity';
import type { PodSettings } from './pod-identity';

const settings = (over: Partial<PodSettings> = {}): PodSettings => ({
  podName: 'keyval-2',
  namespace: 'db',
  peerService: 'keyval-peer',
  clusterDomain: 'cluster.local',
  initialClusterSize: 3,
  peerPort: 2380,
  clientPort: 2379,
  ...over,
});

describe('podIdentity', () => {
  it('derives name, URLs and the initial cluster from the pod name, the service and the size', () => {
    const id = podIdentity(settings());
    expect(id).toMatchObject({
      name: 'keyval-2',
      statefulSet: 'keyval',
      ordinal: 2,
      host: 'keyval-2.keyval-peer.db.svc.cluster.local',
      peerUrl: 'http://keyval-2.keyval-peer.db.svc.cluster.local:2380',
      clientUrl: 'http://keyval-2.keyval-peer.db.svc.cluster.local:2379',
    });
    expect(id.initialCluster).toEqual([
      { name: 'keyval-0', peerUrls: ['http://keyval-0.keyval-peer.db.svc.cluster.local:2380'] },
      { name: 'keyval-1', peerUrls: ['http://keyval-1.keyval-peer.db.svc.cluster.local:2380'] },
      { name: 'keyval-2', peerUrls: ['http://keyval-2.keyval-peer.db.svc.cluster.local:2380'] },
    ]);
  });

  it('derives https:// peer URLs (its own and the initial cluster\'s) and client URL when the listen URLs are https://', () => {
    const id = podIdentity(settings({ peerScheme: 'https', clientScheme: 'https' }));
    expect(id.peerUrl).toBe('https://keyval-2.keyval-peer.db.svc.cluster.local:2380');
    expect(id.clientUrl).toBe('https://keyval-2.keyval-peer.db.svc.cluster.local:2379');
    expect(id.initialCluster.flatMap((m) => m.peerUrls)).toEqual([0, 1, 2].map((k) => `https://keyval-${k}.keyval-peer.db.svc.cluster.local:2380`));
    expect(podsToProbe(id).map((p) => p.peerUrl)).toEqual([0, 1].map((k) => `https://keyval-${k}.keyval-peer.db.svc.cluster.local:2380`));
  });

  it('takes each scheme on its own (TLS for peers only, plaintext clients)', () => {
    const id = podIdentity(settings({ peerScheme: 'https', clientScheme: 'http' }));
    expect(id.peerUrl.startsWith('https://')).toBe(true);
    expect(id.clientUrl.startsWith('http://')).toBe(true);
    const clientOnly = podIdentity(settings({ clientScheme: 'https' }));
    expect(clientOnly.initialCluster.every((m) => m.peerUrls.every((u) => u.startsWith('http://')))).toBe(true);
    expect(clientOnly.clientUrl.startsWith('https://')).toBe(true);
  });

  it('refuses a scheme other than http and https', () => {
    expect(() => podIdentity(settings({ peerScheme: 'unix' as 'http' }))).toThrow(PodIdentityError);
    expect(() => podIdentity(settings({ peerScheme: 'unix' as 'http' }))).toThrow('peer URL scheme "unix" is neither http nor https');
  });

  it('keeps dashes inside the StatefulSet name and takes the last number as the ordinal', () => {
    expect(parsePodName('my-kv-store-10')).toEqual({ statefulSet: 'my-kv-store', ordinal: 10 });
  });

  it.each([
    ['keyval', 'not <statefulset>-<ordinal>'],
    ['keyval-01', 'not <statefulset>-<ordinal>'],
    ['KeyVal-0', 'not a DNS label'],
    ['-0', 'not a DNS label'],
    ['keyval-x', 'not <statefulset>-<ordinal>'],
  ])('refuses the pod name %s', (podName, why) => {
    expect(() => podIdentity(settings({ podName }))).toThrow(PodIdentityError);
    expect(() => podIdentity(settings({ podName }))).toThrow(why);
  });

  it('refuses bad namespaces, services, domains, ports and sizes, naming the setting', () => {
    expect(() => podIdentity(settings({ namespace: 'Db' }))).toThrow('namespace "Db"');
    expect(() => podIdentity(settings({ peerService: 'keyval_peer' }))).toThrow('peer service');
    expect(() => podIdentity(settings({ clusterDomain: 'cluster..local' }))).toThrow('cluster domain');
    expect(() => podIdentity(settings({ peerPort: 0 }))).toThrow('peer port 0');
    expect(() => podIdentity(settings({ initialClusterSize: 0 }))).toThrow('initial cluster size 0');
    expect(() => podIdentity(settings({ initialClusterSize: 10 }))).toThrow('from 1 to 9');
  });

  it('asks every lower ordinal and the rest of the initial cluster, never itself', () => {
    expect(podsToProbe(podIdentity(settings({ podName: 'keyval-1' }))).map((p) => p.name)).toEqual(['keyval-0', 'keyval-2']);
    expect(podsToProbe(podIdentity(settings({ podName: 'keyval-4' }))).map((p) => p.name)).toEqual(['keyval-0', 'keyval-1', 'keyval-2', 'keyval-3']);
    expect(podsToProbe(podIdentity(settings({ podName: 'keyval-0', initialClusterSize: 1 })))).toEqual([]);
  });
});
