/**
 * etcd's HTTP endpoints on the client URL: three members started on one host with etcd's
 * usual flags only (no --listen-metrics-urls, so no fixed extra port to collide on) all start
 * and serve /metrics, /health, /readyz, /livez and /version over HTTP/1.1 on the port that
 * also serves gRPC (etcdctl on the same port); --listen-metrics-urls still adds a listener
 * when given; the gateway does the same on its client port.
 */
import * as http from 'node:http';
import { TestCluster, explain } from '../harness/cluster';
import { etcdctlOk } from '../harness/etcdctl';
import { httpGet } from '../harness/http-get';
import { runKeyval } from '../harness/member-process';
import { parsePromText, sampleSum } from '../harness/prom-text';
import { GatewayProcess, runGateway } from '../gateway/gateway-process';

jest.setTimeout(90_000);

function contentTypeOf(url: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.resume();
        resolve(res.headers['content-type']);
      })
      .on('error', reject);
  });
}

describe('HTTP endpoints on the client port', () => {
  let cluster: TestCluster | undefined;
  let gateway: GatewayProcess | undefined;
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };

  beforeAll(async () => {
    // TestCluster passes etcd's usual flags and no --listen-metrics-urls.
    cluster = await TestCluster.start({ size: 3 });
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await cluster?.close();
  });

  it(
    'starts three members with etcd flags on one host, each serving HTTP and gRPC on its client port',
    explain(c, async () => {
      for (const m of c().members) {
        expect(m.argv().some((a) => a.startsWith('--listen-metrics-urls'))).toBe(false);
        expect(m.running).toBe(true);
        expect(await httpGet(`${m.clientUrl}/health`)).toEqual({ status: 200, body: '{"health":"true"}\n' });
        expect(await httpGet(`${m.clientUrl}/readyz`)).toEqual({ status: 200, body: '{"ready":true}\n' });
        expect((await httpGet(`${m.clientUrl}/livez`)).status).toBe(200);
        expect(JSON.parse((await httpGet(`${m.clientUrl}/version`)).body)).toMatchObject({ etcdserver: '3.4.0', etcdcluster: '3.4.0' });
        expect(await contentTypeOf(`${m.clientUrl}/metrics`)).toMatch(/^text\/plain; version=0\.0\.4/);
        const metrics = parsePromText((await httpGet(`${m.clientUrl}/metrics`)).body);
        expect(sampleSum(metrics, 'etcd_server_has_leader')).toBe(1);
        expect(sampleSum(metrics, 'keyval_build_info', { component: 'member' })).toBe(1);
        expect(metrics.has('process_cpu_seconds_total')).toBe(true);
        expect((await httpGet(`${m.clientUrl}/nope`)).status).toBe(404);
      }
      // gRPC on the same ports.
      expect(await etcdctlOk(c().endpoints(), ['endpoint', 'health'])).toBeDefined();
      const leader = await c().leader();
      await etcdctlOk([leader.endpoint], ['put', 'http/a', '1']);
      const after = parsePromText((await httpGet(`${leader.clientUrl}/metrics`)).body);
      expect(sampleSum(after, 'grpc_server_handled_total', { grpc_method: 'Put', grpc_code: 'OK' })).toBeGreaterThanOrEqual(1);
      expect(sampleSum(after, 'etcd_server_is_leader')).toBe(1);
    }),
  );

  it('keeps --listen-metrics-urls working (an extra listener) and documents that it is empty by default', async () => {
    const help = await runKeyval(['--help']);
    expect(help.stdout).toMatch(/--listen-metrics-urls <urls>[\s\S]*\(default: ""/);
    const single = await TestCluster.start({ size: 1, metricsListener: true });
    try {
      const m = single.members[0];
      if (m === undefined) throw new Error('no member');
      expect(m.argv()).toContain(`--listen-metrics-urls=${m.metricsUrl}`);
      expect((await httpGet(`${m.metricsUrl}/health`)).body).toBe('{"health":"true"}\n');
      expect(sampleSum(parsePromText((await httpGet(`${m.metricsUrl}/metrics`)).body), 'etcd_server_is_leader')).toBe(1);
    } finally {
      await single.close();
    }
  });

  it(
    'serves the gateway\'s metrics and health on its client port too',
    explain(c, async () => {
      const help = await runGateway(['--help']);
      expect(help.stdout).toMatch(/--listen-metrics-urls <urls>[\s\S]*\(default: ""/);
      gateway = await GatewayProcess.start({ endpoints: c().endpoints(), dir: c().dir, metricsListener: false });
      await etcdctlOk([gateway.endpoint], ['put', 'http/gw', '1']);
      const base = `http://${gateway.endpoint}`;
      expect((await httpGet(`${base}/health`)).body).toBe('{"health":"true"}\n');
      expect((await httpGet(`${base}/readyz`)).status).toBe(200);
      const metrics = parsePromText((await httpGet(`${base}/metrics`)).body);
      expect(sampleSum(metrics, 'keyval_gateway_requests_total', { kind: 'write' })).toBeGreaterThanOrEqual(1);
      expect(sampleSum(metrics, 'keyval_gateway_has_leader')).toBe(1);
      expect(sampleSum(metrics, 'grpc_server_handled_total', { grpc_method: 'Put', grpc_code: 'OK' })).toBeGreaterThanOrEqual(1);
      expect(sampleSum(metrics, 'keyval_build_info', { component: 'gateway' })).toBe(1);
      expect(sampleSum(metrics, 'keyval_gateway_upstream_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    }),
  );
});
