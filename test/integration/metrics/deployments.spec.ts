/**
 * The monitoring files in deployments/ against the real tools and a live cluster:
 * - promtool (Debian's `prometheus` package) checks the scrape configurations and the rule
 *   files, and runs the alerts' unit tests (alerts.test.yml);
 * - every metric name the Grafana dashboard, the alerts and the recording rules use exists in
 *   a live scrape of a 3-member cluster and a gateway (or is a recording rule defined here);
 * - a real Prometheus scraping that cluster with the alert and recording rules reads
 *   etcd_server_has_leader = 1 for all three members, evaluates every rule without error, has
 *   every alert inactive — and, once a member is killed, KeyvalMemberDown pending for it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { etcd } from '@keyval/proto';
import { TestCluster, explain } from '../harness/cluster';
import { etcdctlOk } from '../harness/etcdctl';
import { freePorts } from '../harness/free-ports';
import { httpGet } from '../harness/http-get';
import { REPO_ROOT } from '../harness/member-process';
import type { TestMember } from '../harness/member-process';
import { parsePromText } from '../harness/prom-text';
import type { Family } from '../harness/prom-text';
import { metricNamesIn } from '../harness/promql-names';
import { waitFor } from '../harness/wait-for';
import { GatewayProcess } from '../gateway/gateway-process';

jest.setTimeout(180_000);

const PROMETHEUS_DIR = path.join(REPO_ROOT, 'deployments', 'prometheus');
const DASHBOARD = path.join(REPO_ROOT, 'deployments', 'grafana', 'dashboards', 'keyval-cluster.json');

interface RuleFile {
  groups: { name: string; rules: ({ alert: string; expr: string } | { record: string; expr: string })[] }[];
}

const ruleFile = (name: string): RuleFile => parseYaml(fs.readFileSync(path.join(PROMETHEUS_DIR, name), 'utf8')) as RuleFile;

function promtool(args: readonly string[], cwd = PROMETHEUS_DIR): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error !== undefined) {
    throw new Error(`promtool could not run (${r.error.message}): install Debian's prometheus package (.ci/run does)`);
  }
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Every PromQL expression of the dashboard's panels. */
function dashboardExprs(): string[] {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

function ruleExprs(): string[] {
  return ['alerts.yml', 'recording.yml'].flatMap((f) => ruleFile(f).groups.flatMap((g) => g.rules.map((r) => r.expr)));
}

describe('metricNamesIn', () => {
  it('finds the metric names of a PromQL expression, not its functions, labels, ranges or keywords', () => {
    expect(metricNamesIn('histogram_quantile(0.99, sum by (job, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{job="keyval"}[5m]))) > 0.5')).toEqual([
      'etcd_disk_wal_fsync_duration_seconds_bucket',
    ]);
    expect(metricNamesIn('sum(up{job="keyval"} == bool 1) < ((count(up) + 1) / 2) and on (job) keyval:writes:rate1m offset 5m')).toEqual(['keyval:writes:rate1m', 'up']);
    expect(metricNamesIn('process_resident_memory_bytes{instance=~"$instance"} / 1e9')).toEqual(['process_resident_memory_bytes']);
    expect(metricNamesIn('rate(a_total{x="by (y) rate(z)"}[$__rate_interval]) unless b')).toEqual(['a_total', 'b']);
  });
});

describe('deployments: promtool', () => {
  it('checks the scrape configurations (with their rule files) and the rules', () => {
    const config = promtool(['check', 'config', 'prometheus.yml']);
    expect(config.output).toContain('SUCCESS');
    expect(config.code).toBe(0);
    const rules = promtool(['check', 'rules', 'alerts.yml', 'recording.yml']);
    expect(rules.code).toBe(0);
    expect(rules.output).toMatch(/SUCCESS: 13 rules found[\s\S]*SUCCESS: 10 rules found/);
  });

  it('checks the Kubernetes service-discovery configuration', () => {
    const k8s = promtool(['check', 'config', 'prometheus-kubernetes.yml']);
    if (k8s.code === 0) {
      expect(k8s.output).toContain('SUCCESS');
      return;
    }
    // Debian's Prometheus is built without Kubernetes discovery: check everything else with the
    // discovery blocks swapped for static targets, and the discovery blocks by their shape.
    expect(k8s.output).toContain('field kubernetes_sd_configs not found');
    const config = parseYaml(fs.readFileSync(path.join(PROMETHEUS_DIR, 'prometheus-kubernetes.yml'), 'utf8')) as { scrape_configs: Record<string, unknown>[]; rule_files: string[] };
    for (const job of config.scrape_configs) {
      expect(job['kubernetes_sd_configs']).toEqual([{ role: 'pod' }]);
      delete job['kubernetes_sd_configs'];
      job['static_configs'] = [{ targets: ['placeholder:2379'] }];
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-promtool-'));
    try {
      for (const file of config.rule_files) fs.copyFileSync(path.join(PROMETHEUS_DIR, file), path.join(dir, file));
      fs.writeFileSync(path.join(dir, 'prometheus-kubernetes.yml'), JSON.stringify(config));
      const substituted = promtool(['check', 'config', 'prometheus-kubernetes.yml'], dir);
      expect(substituted.output).toContain('SUCCESS');
      expect(substituted.code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes the alerts\' unit tests', () => {
    const tests = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(tests.output).toContain('SUCCESS');
    expect(tests.code).toBe(0);
  });
});

describe('deployments: against a live cluster and a real Prometheus', () => {
  let cluster: TestCluster | undefined;
  let gateway: GatewayProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let promDir: string | undefined;
  let promUrl = '';
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3 });
    gateway = await GatewayProcess.start({ endpoints: cluster.endpoints(), dir: cluster.dir });
    // Traffic through the gateway (batched writes, reads) so every family has samples.
    const kv = gateway.kv();
    await Promise.all(Array.from({ length: 20 }, (_, i) => kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from(`deploy/${i}`), value: Buffer.from('v') }), { timeoutMs: 10_000 })));
    await etcdctlOk([gateway.endpoint], ['get', 'deploy/', '--prefix']);
  });

  afterAll(async () => {
    prometheus?.kill('SIGKILL');
    await gateway?.stop('SIGKILL');
    await cluster?.close();
    if (promDir !== undefined) fs.rmSync(promDir, { recursive: true, force: true });
  });

  it(
    'finds every metric the dashboard, the alerts and the recording rules use in a live scrape',
    explain(c, async () => {
      const families = new Map<string, Family>();
      const leader = await c().leader();
      await waitFor(async () => (parsePromText((await httpGet(`${leader.clientUrl}/metrics`)).body).get('etcd_network_peer_round_trip_time_seconds')?.samples.length ?? 0) > 0 || undefined, {
        timeoutMs: 10_000,
        what: 'a peer round trip on the leader',
      });
      for (const url of [...c().members.map((m) => m.clientUrl), `http://${(gateway as GatewayProcess).endpoint}`]) {
        for (const f of parsePromText((await httpGet(`${url}/metrics`, 5_000)).body).values()) {
          const seen = families.get(f.name);
          families.set(f.name, seen === undefined ? f : { ...seen, samples: [...seen.samples, ...f.samples] });
        }
      }
      const recorded = new Set(ruleFile('recording.yml').groups.flatMap((g) => g.rules.map((r) => ('record' in r ? r.record : ''))));
      const sampled = (name: string): boolean => {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        const family = families.get(name) ?? families.get(base);
        return family !== undefined && family.samples.some((s) => s.name === name || (s.name === base && name === base));
      };
      const used = [...new Set([...dashboardExprs(), ...ruleExprs()].flatMap(metricNamesIn))].sort();
      expect(used.length).toBeGreaterThan(30);
      const missing = used.filter((name) => name !== 'up' && !(name.includes(':') ? recorded.has(name) : sampled(name)));
      expect(missing).toEqual([]);
    }),
  );

  it(
    'is scraped by Prometheus with every rule healthy and inactive; a killed member raises KeyvalMemberDown (pending)',
    explain(c, async () => {
      promDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-prometheus-'));
      const [port] = (await freePorts(1)) as [number];
      promUrl = `http://127.0.0.1:${port}`;
      const config = {
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: [path.join(PROMETHEUS_DIR, 'alerts.yml'), path.join(PROMETHEUS_DIR, 'recording.yml')],
        scrape_configs: [
          { job_name: 'keyval', static_configs: [{ targets: c().members.map((m) => m.endpoint) }] },
          { job_name: 'keyval-gateway', static_configs: [{ targets: [(gateway as GatewayProcess).endpoint] }] },
        ],
      };
      fs.writeFileSync(path.join(promDir, 'prometheus.yml'), JSON.stringify(config));
      const log = fs.openSync(path.join(c().dir, 'prometheus.log'), 'a');
      prometheus = spawn(
        'prometheus',
        [`--config.file=${path.join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
        { stdio: ['ignore', log, log] },
      );
      fs.closeSync(log);
      const api = async <T>(query: string): Promise<T> => {
        const r = await httpGet(`${promUrl}${query}`, 2_000);
        if (r.status !== 200) throw new Error(`${query}: ${r.status} ${r.body.slice(0, 200)}`);
        return (JSON.parse(r.body) as { data: T }).data;
      };

      const leaders = await waitFor(
        async () => {
          const data = await api<{ result: { metric: { instance: string }; value: [number, string] }[] }>('/api/v1/query?query=etcd_server_has_leader');
          return data.result.length === 3 && data.result.every((r) => r.value[1] === '1') ? data.result : undefined;
        },
        { timeoutMs: 30_000, what: 'Prometheus to read etcd_server_has_leader = 1 for the three members', intervalMs: 250 },
      );
      expect(leaders.map((r) => r.metric.instance).sort()).toEqual(c().members.map((m) => m.endpoint).sort());

      type Rule = { name: string; type: string; health: string; state?: string; lastError?: string };
      const ruleCount = ['alerts.yml', 'recording.yml'].reduce((n, f) => n + ruleFile(f).groups.reduce((k, g) => k + g.rules.length, 0), 0);
      const rules = await waitFor(
        async () => {
          const groups = (await api<{ groups: { rules: Rule[] }[] }>('/api/v1/rules')).groups;
          const all = groups.flatMap((g) => g.rules);
          return all.length === ruleCount && all.every((r) => r.health !== 'unknown') ? all : undefined;
        },
        { timeoutMs: 60_000, what: `Prometheus to evaluate all ${ruleCount} rules`, intervalMs: 250 },
      );
      expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? ''}`)).toEqual([]);
      expect(rules.filter((r) => r.type === 'alerting' && r.state !== 'inactive').map((r) => `${r.name}: ${r.state}`)).toEqual([]);

      const victim = c().followersOf(await c().leader())[0] as TestMember;
      await victim.stop('SIGKILL');
      const alert = await waitFor(
        async () => {
          const alerts = (await api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts')).alerts;
          return alerts.find((a) => a.labels['alertname'] === 'KeyvalMemberDown' && a.labels['instance'] === victim.endpoint);
        },
        { timeoutMs: 30_000, what: 'KeyvalMemberDown for the killed member', intervalMs: 250 },
      );
      expect(alert.state).toBe('pending'); // `for: 1m`: pending until a minute has passed
      expect(alert.labels['severity']).toBe('critical');
    }),
  );
});
