import { UsageError, parseKeyvalConfig } from './keyval-config';

const pod = ['--pod-name=keyval-1', '--pod-namespace=db', '--peer-service=keyval-peer', '--initial-cluster-size=3', '--listen-client-urls=http://0.0.0.0:2379', '--listen-peer-urls=http://0.0.0.0:2380'];

describe('parseKeyvalConfig: a StatefulSet pod (--pod-name)', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  });

  it('derives the name, the advertised URLs and the initial cluster from the pod', () => {
    const config = parseKeyvalConfig(pod);
    expect(config).toMatchObject({
      name: 'keyval-1',
      initialAdvertisePeerUrls: ['http://keyval-1.keyval-peer.db.svc.cluster.local:2380'],
      advertiseClientUrls: ['http://keyval-1.keyval-peer.db.svc.cluster.local:2379'],
      initialClusterState: 'new',
      pod: { ordinal: 1, statefulSet: 'keyval' },
    });
    expect(config?.initialCluster.map((m) => m.name)).toEqual(['keyval-0', 'keyval-1', 'keyval-2']);
  });

  it('takes the pod settings from KEYVAL_* variables as the manifests give them', () => {
    Object.assign(process.env, { KEYVAL_POD_NAME: 'kv-0', KEYVAL_POD_NAMESPACE: 'ns', KEYVAL_PEER_SERVICE: 'kv-peer', KEYVAL_INITIAL_CLUSTER_SIZE: '5', KEYVAL_CLUSTER_DOMAIN: 'example.org' });
    const config = parseKeyvalConfig([]);
    expect(config?.initialAdvertisePeerUrls).toEqual(['http://kv-0.kv-peer.ns.svc.example.org:2380']);
    expect(config?.initialCluster).toHaveLength(5);
  });

  it.each([
    [['--name=x'], '--pod-name derives --name from the pod; do not give it too'],
    [['--initial-cluster=a=http://a:2380', '--initial-cluster-state=existing'], '--pod-name derives --initial-cluster, --initial-cluster-state from the pod; do not give them too'],
    [['--advertise-client-urls=http://a:2379'], '--pod-name derives --advertise-client-urls'],
  ])('refuses %j next to --pod-name', (extra, message) => {
    expect(() => parseKeyvalConfig([...pod, ...extra])).toThrow(UsageError);
    expect(() => parseKeyvalConfig([...pod, ...extra])).toThrow(message);
  });

  it('refuses a derived flag given as a variable too', () => {
    process.env['KEYVAL_INITIAL_CLUSTER'] = 'a=http://a:2380';
    expect(() => parseKeyvalConfig(pod)).toThrow('--pod-name derives --initial-cluster');
  });

  it('needs the peer service and the initial size, and a StatefulSet pod name', () => {
    expect(() => parseKeyvalConfig(['--pod-name=keyval-0', '--initial-cluster-size=3'])).toThrow('--pod-name needs --peer-service too');
    expect(() => parseKeyvalConfig(['--pod-name=keyval-0', '--peer-service=p'])).toThrow('--pod-name needs --initial-cluster-size too');
    expect(() => parseKeyvalConfig(['--pod-name=keyval', '--peer-service=p', '--initial-cluster-size=3'])).toThrow('--pod-name: pod name "keyval" is not <statefulset>-<ordinal>');
    expect(() => parseKeyvalConfig([...pod, '--initial-cluster-size=0'])).toThrow('--initial-cluster-size: expected a whole number');
  });
});
