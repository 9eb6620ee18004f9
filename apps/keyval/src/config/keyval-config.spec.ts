import { DEFAULT_CONNECTION_LIMITS, DEFAULT_H2_SERVER_LIMITS } from '@keyval/grpc';
import { SERVER_LIMIT_FLAGS } from '@keyval/ops';
import { parseKeyvalConfig, UsageError } from './keyval-config';

const pod = ['--pod-name=keyval-1', '--pod-namespace=db', '--peer-service=keyval-peer', '--initial-cluster-size=3', '--listen-client-urls=http://0.0.0.0:2379', '--listen-peer-urls=http://0.0.0.0:2380'];

describe('keyval flags: the client port limits', () => {
  it('defaults to the HTTP/2 server defaults', () => {
    expect(parseKeyvalConfig([])?.serverLimits).toEqual({ ...DEFAULT_H2_SERVER_LIMITS, ...DEFAULT_CONNECTION_LIMITS });
  });

  it('has every limit flag, each setting its limit', () => {
    for (const { flag, key, unit } of SERVER_LIMIT_FLAGS) {
      const value = unit === 'ms' ? '3s' : unit === 'bytes' ? '100000' : '20';
      const limits = parseKeyvalConfig([flag, value])?.serverLimits as unknown as Record<string, number>;
      expect([flag, limits[key]]).toEqual([flag, unit === 'ms' ? 3000 : Number(value)]);
    }
  });

  it('takes etcd-style durations and KEYVAL_* variables', () => {
    const config = parseKeyvalConfig(['--grpc-keepalive-interval', '2h0m0s']);
    expect(config?.serverLimits.keepaliveIntervalMs).toBe(7_200_000);
    process.env['KEYVAL_MAX_CONCURRENT_STREAMS'] = '64';
    try {
      expect(parseKeyvalConfig([])?.serverLimits.maxConcurrentStreams).toBe(64);
    } finally {
      delete process.env['KEYVAL_MAX_CONCURRENT_STREAMS'];
    }
  });

  it('takes --quota-backend-bytes as etcd: 0 (the default) is 2 GiB', () => {
    expect(parseKeyvalConfig([])?.quotaBackendBytes).toBe(2 * 1024 * 1024 * 1024);
    expect(parseKeyvalConfig(['--quota-backend-bytes', '0'])?.quotaBackendBytes).toBe(2 * 1024 * 1024 * 1024);
    expect(parseKeyvalConfig(['--quota-backend-bytes=1048576'])?.quotaBackendBytes).toBe(1048576);
  });

  it.each([
    ['--max-concurrent-streams', '0', /--max-concurrent-streams: expected 1 to/],
    ['--stream-window-bytes', '100', /--stream-window-bytes: expected 65535 to/],
    ['--idle-timeout', 'soon', /--idle-timeout: expected milliseconds or a duration/],
    ['--max-connections-per-ip', 'many', /--max-connections-per-ip: expected a whole number/],
    ['--quota-backend-bytes', '-1', /--quota-backend-bytes: expected a non-negative number of bytes/],
    ['--quota-backend-bytes', '2GB', /--quota-backend-bytes: expected a non-negative number of bytes/],
  ])('refuses %s %s, naming the flag', (flag, value, message) => {
    expect(() => parseKeyvalConfig([flag, value])).toThrow(UsageError);
    expect(() => parseKeyvalConfig([flag, value])).toThrow(message);
  });
});

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

  const peerTls = ['--peer-cert-file=/tls/peer.crt', '--peer-key-file=/tls/peer.key', '--peer-trusted-ca-file=/tls/ca.crt'];
  const clientTls = ['--cert-file=/tls/server.crt', '--key-file=/tls/server.key', '--trusted-ca-file=/tls/ca.crt'];

  it('derives https:// peer URLs (its own and the initial cluster\'s) and client URL from https:// listen URLs', () => {
    const config = parseKeyvalConfig([...pod, '--listen-peer-urls=https://0.0.0.0:2380', '--listen-client-urls=https://0.0.0.0:2379', ...peerTls, ...clientTls]);
    expect(config?.initialAdvertisePeerUrls).toEqual(['https://keyval-1.keyval-peer.db.svc.cluster.local:2380']);
    expect(config?.advertiseClientUrls).toEqual(['https://keyval-1.keyval-peer.db.svc.cluster.local:2379']);
    expect(config?.initialCluster.flatMap((m) => m.peerUrls)).toEqual([0, 1, 2].map((k) => `https://keyval-${k}.keyval-peer.db.svc.cluster.local:2380`));
    expect(config?.pod).toMatchObject({ peerUrl: 'https://keyval-1.keyval-peer.db.svc.cluster.local:2380', clientUrl: 'https://keyval-1.keyval-peer.db.svc.cluster.local:2379' });
    expect(config?.peerTls).toEqual({ certFile: '/tls/peer.crt', keyFile: '/tls/peer.key', caFile: '/tls/ca.crt', clientCertAuth: true });
  });

  it('takes the client URL\'s scheme from the first listen client URL and the peer scheme on its own', () => {
    const config = parseKeyvalConfig([...pod, '--listen-peer-urls=https://0.0.0.0:2380', '--listen-client-urls=http://0.0.0.0:2379,https://0.0.0.0:2381', ...peerTls, ...clientTls]);
    expect(config?.advertiseClientUrls).toEqual(['http://keyval-1.keyval-peer.db.svc.cluster.local:2379']);
    expect(config?.initialAdvertisePeerUrls).toEqual(['https://keyval-1.keyval-peer.db.svc.cluster.local:2380']);
  });

  it.each([
    [['--listen-peer-urls=https://0.0.0.0:2380'], '--listen-peer-urls: https:// peer URLs need --peer-cert-file and --peer-key-file'],
    [['--listen-client-urls=https://0.0.0.0:2379'], '--listen-client-urls: https:// URLs need --cert-file and --key-file'],
    [['--listen-peer-urls=https://0.0.0.0:2380', '--peer-cert-file=/tls/peer.crt'], '--peer-cert-file and --peer-key-file go together'],
    [['--peer-cert-file=/tls/peer.crt', '--peer-key-file=/tls/peer.key'], '--peer-cert-file: the peer URLs must be https:// to use it'],
  ])('refuses TLS flags that do not fit the pod\'s https:// listen URLs: %j', (extra, message) => {
    expect(() => parseKeyvalConfig([...pod, ...extra])).toThrow(UsageError);
    expect(() => parseKeyvalConfig([...pod, ...extra])).toThrow(message);
  });

  it('needs the peer service and the initial size, and a StatefulSet pod name', () => {
    expect(() => parseKeyvalConfig(['--pod-name=keyval-0', '--initial-cluster-size=3'])).toThrow('--pod-name needs --peer-service too');
    expect(() => parseKeyvalConfig(['--pod-name=keyval-0', '--peer-service=p'])).toThrow('--pod-name needs --initial-cluster-size too');
    expect(() => parseKeyvalConfig(['--pod-name=keyval', '--peer-service=p', '--initial-cluster-size=3'])).toThrow('--pod-name: pod name "keyval" is not <statefulset>-<ordinal>');
    expect(() => parseKeyvalConfig([...pod, '--initial-cluster-size=0'])).toThrow('--initial-cluster-size: expected a whole number');
  });
});
