/**
 * KeyVal's Prometheus metrics against a real etcd 3.4's: the same workload on a 3-member etcd
 * cluster and on a 3-member KeyVal cluster (writes and reads with etcdctl, then a follower
 * killed and more writes, so the peer failure counters exist), every member's /metrics
 * scraped from its client URL, and for each family both export: the same type, label names
 * and histogram buckets. The families the issue names must exist on both sides (so the test
 * cannot pass by provoking nothing).
 */
import { etcdctlOk } from '../harness/etcdctl';
import { EtcdCluster } from '../harness/etcd-process';
import type { EtcdMember } from '../harness/etcd-process';
import { TestCluster } from '../harness/cluster';
import { httpGet } from '../harness/http-get';
import { bucketsOf, labelNamesOf, parsePromText } from '../harness/prom-text';
import type { Family } from '../harness/prom-text';
import { waitFor } from '../harness/wait-for';

/** The etcd families KeyVal promises to export with etcd's name, type, labels and buckets. */
const REQUIRED = [
  'etcd_server_has_leader',
  'etcd_server_is_leader',
  'etcd_server_leader_changes_seen_total',
  'etcd_server_proposals_committed_total',
  'etcd_server_proposals_applied_total',
  'etcd_server_proposals_pending',
  'etcd_server_proposals_failed_total',
  'etcd_server_heartbeat_send_failures_total',
  'etcd_server_snapshot_apply_in_progress_total',
  'etcd_disk_wal_fsync_duration_seconds',
  'etcd_disk_backend_commit_duration_seconds',
  'etcd_network_peer_round_trip_time_seconds',
  'etcd_network_peer_sent_bytes_total',
  'etcd_network_peer_received_bytes_total',
  'etcd_network_peer_sent_failures_total',
  'etcd_mvcc_db_total_size_in_bytes',
  'grpc_server_started_total',
  'grpc_server_handled_total',
  'grpc_server_handling_seconds',
];

type Scrape = Map<string, Family>;

async function scrape(url: string): Promise<Scrape> {
  const r = await httpGet(`${url}/metrics`, 5_000);
  if (r.status !== 200) throw new Error(`GET ${url}/metrics: ${r.status} ${r.body.slice(0, 200)}`);
  return parsePromText(r.body);
}

/** The families of several scrapes together (samples of one family from every member). */
function union(scrapes: readonly Scrape[]): Scrape {
  const all = new Map<string, Family>();
  for (const s of scrapes) {
    for (const f of s.values()) {
      const seen = all.get(f.name);
      all.set(f.name, seen === undefined ? { ...f, samples: [...f.samples] } : { ...seen, samples: [...seen.samples, ...f.samples] });
    }
  }
  return all;
}

const positive = (family: Family | undefined): boolean => family !== undefined && family.samples.some((s) => s.value > 0);

/** What a family looks like to a dashboard: its type, label names and buckets. */
function shape(f: Family): { type: string; labels: string[]; buckets: string[] } {
  return { type: f.type, labels: labelNamesOf(f), buckets: f.type === 'histogram' ? bucketsOf(f) : [] };
}

describe('metrics: the same families as etcd 3.4', () => {
  let etcdScrape: Scrape;
  let keyvalScrape: Scrape;

  beforeAll(async () => {
    // etcd first: its peer round-trip prober runs every few seconds, so this half takes ~10 s.
    const etcd = await EtcdCluster.start(3);
    try {
      const leader = await etcd.leader();
      await etcdctlOk([leader.endpoint], ['put', 'compat/a', '1']);
      await etcdctlOk([leader.endpoint], ['get', 'compat/a']);
      await etcdctlOk([leader.endpoint], ['del', 'compat/a']);
      await waitFor(async () => (await scrape(leader.clientUrl)).get('etcd_network_peer_round_trip_time_seconds')?.samples.length || undefined, {
        timeoutMs: 20_000,
        what: 'etcd to measure a peer round trip',
        intervalMs: 250,
      });
      const follower = etcd.members.find((m) => m !== leader) as EtcdMember;
      await etcd.kill(follower);
      for (let i = 0; i < 3; i++) await etcdctlOk([leader.endpoint], ['put', `compat/after-kill-${i}`, 'x']);
      await waitFor(async () => positive((await scrape(leader.clientUrl)).get('etcd_network_peer_sent_failures_total')) || undefined, {
        timeoutMs: 15_000,
        what: 'etcd to count a failed send to the killed member',
        intervalMs: 100,
      });
      etcdScrape = union(await Promise.all(etcd.members.filter((m) => m.process !== undefined).map((m) => scrape(m.clientUrl))));
    } finally {
      await etcd.close();
    }

    const keyval = await TestCluster.start({ size: 3 });
    try {
      const leader = await keyval.leader();
      await etcdctlOk([leader.endpoint], ['put', 'compat/a', '1']);
      await etcdctlOk([leader.endpoint], ['get', 'compat/a']);
      await etcdctlOk([leader.endpoint], ['del', 'compat/a']);
      await waitFor(async () => positive((await scrape(leader.clientUrl)).get('etcd_network_peer_round_trip_time_seconds')) || undefined, {
        timeoutMs: 10_000,
        what: 'KeyVal to measure a peer round trip',
      });
      const follower = keyval.followersOf(leader)[0];
      if (follower === undefined) throw new Error('no follower');
      await follower.stop('SIGKILL');
      for (let i = 0; i < 3; i++) await etcdctlOk([leader.endpoint], ['put', `compat/after-kill-${i}`, 'x']);
      await waitFor(async () => positive((await scrape(leader.clientUrl)).get('etcd_network_peer_sent_failures_total')) || undefined, {
        timeoutMs: 10_000,
        what: 'KeyVal to count a failed send to the killed member',
      });
      keyvalScrape = union(await Promise.all(keyval.running().map((m) => scrape(m.clientUrl))));
    } finally {
      await keyval.close();
    }
  }, 120_000);

  it('exports every required family, as etcd does', () => {
    const missing = (scrape: Scrape): string[] => REQUIRED.filter((name) => !scrape.has(name) || scrape.get(name)?.samples.length === 0);
    expect({ etcd: missing(etcdScrape), keyval: missing(keyvalScrape) }).toEqual({ etcd: [], keyval: [] });
  });

  it('gives every family both export the same type, label names and buckets', () => {
    const shared = [...keyvalScrape.keys()].filter((name) => etcdScrape.has(name) && (name.startsWith('etcd_') || name.startsWith('grpc_') || name.startsWith('process_')));
    expect(shared).toEqual(expect.arrayContaining(REQUIRED));
    const differences = shared
      .map((name) => ({ name, etcd: shape(etcdScrape.get(name) as Family), keyval: shape(keyvalScrape.get(name) as Family) }))
      .filter((d) => JSON.stringify(d.etcd) !== JSON.stringify(d.keyval));
    expect(differences).toEqual([]);
  });

  it('counts KV calls by every gRPC code from the start, like go-grpc-prometheus', () => {
    const codes = (scrape: Scrape): string[] =>
      (scrape.get('grpc_server_handled_total') as Family).samples
        .filter((s) => s.labels['grpc_service'] === 'etcdserverpb.KV' && s.labels['grpc_method'] === 'Range')
        .map((s) => s.labels['grpc_code'] as string)
        .filter((code, i, all) => all.indexOf(code) === i)
        .sort();
    expect(codes(keyvalScrape)).toEqual(codes(etcdScrape));
    expect(codes(keyvalScrape)).toHaveLength(17);
  });
});
