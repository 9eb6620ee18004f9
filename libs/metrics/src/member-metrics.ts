/**
 * A member's metrics: etcd 3.4's families where etcd has the same concept (so etcd dashboards
 * and alerts work unchanged), `keyval_*` for what etcd lacks. Events arrive through the
 * MemberObserver hooks (passed to `KvMember.open`); states (leader, indexes, pending
 * proposals, disk, follower lag) are read from the member when Prometheus scrapes, once
 * `attach(member)` has been called.
 *
 *     new MemberMetrics(registry) ──observer──► KvMember.open({ observer })
 *              │                                        │
 *              └────────── attach(member) ◄─────────────┘   scrape: read states from the member
 */
import { NO_NODE } from '@keyval/raft';
import type { LogIndex, NodeId, ReadMode } from '@keyval/raft';
import { memberStatus } from '@keyval/cluster';
import type { DiskUsageProbe, DriverObserver, KvMember, MemberObserver, PeerObserver, SnapshotObserver, TransportObserver } from '@keyval/cluster';
import type { WalObserver } from '@keyval/storage';
import { ALARM_TYPES } from '@keyval/statemachine';
import type { BackendObserver } from '@keyval/statemachine';
import type { Registry } from 'prom-client';
import { BATCH_SIZE_BUCKETS, ETCD_DISK_BUCKETS, ETCD_PEER_RTT_BUCKETS, LATENCY_BUCKETS, SNAPSHOT_DURATION_BUCKETS } from './buckets';
import type { CounterCell, HistogramCell } from './cells';
import { CounterFamily, gaugeFamily, HistogramFamily } from './families';
import type { GaugeSample } from './families';

/** A member id as etcd prints it in labels (`To`, `From`): lower-case hex. */
const hex = (id: bigint): string => id.toString(16);

export class MemberMetrics implements MemberObserver {
  private member: KvMember | undefined;
  private disk: DiskUsageProbe | undefined;

  readonly driver: DriverObserver;
  readonly transport: TransportObserver;
  readonly wal: WalObserver;
  readonly backend: BackendObserver;
  readonly snapshots: SnapshotObserver;

  private readonly leaderChanges: CounterCell;
  private readonly replayed: CounterCell;

  constructor(private readonly registry: Registry) {
    this.leaderChanges = new CounterFamily(registry, { name: 'etcd_server_leader_changes_seen_total', help: 'The number of leader changes seen.' }).cell({});
    this.replayed = new CounterFamily(registry, {
      name: 'keyval_session_replayed_writes_total',
      help: 'Writes answered from a client session instead of being applied again (retries deduplicated by client id and sequence).',
    }).cell({});
    this.driver = this.driverObserver();
    this.transport = this.transportObserver();
    this.wal = this.walObserver();
    this.backend = this.backendObserver();
    this.snapshots = this.snapshotObserver();
    this.stateGauges();
  }

  replayedWrites(count: number): void {
    this.replayed.inc(count);
  }

  /** Starts reading states from `member` at each scrape, and counting its leader changes. */
  attach(member: KvMember): void {
    this.member = member;
    this.disk = member.disk;
    member.driver.onLeaderChange((leader) => {
      if (leader !== NO_NODE) this.leaderChanges.inc();
    });
    if (member.driver.currentLeader() !== 0n) {
      this.leaderChanges.inc();
    }
  }

  private driverObserver(): DriverObserver {
    const r = this.registry;
    const failed = new CounterFamily(r, { name: 'etcd_server_proposals_failed_total', help: 'The total number of failed proposals seen.' }).cell({});
    const commit = new HistogramFamily(r, {
      name: 'keyval_proposal_commit_duration_seconds',
      help: 'Time from a proposal on the leader to its commit by a quorum (replication and fsync), per proposal.',
      buckets: LATENCY_BUCKETS,
    }).cell({});
    const apply = new HistogramFamily(r, { name: 'keyval_apply_duration_seconds', help: 'Time to apply one batch of committed entries to the state machine.', buckets: LATENCY_BUCKETS }).cell({});
    const applyBatch = new HistogramFamily(r, { name: 'keyval_apply_batch_entries', help: 'Committed entries applied in one batch.', buckets: BATCH_SIZE_BUCKETS }).cell({});
    const reads = new CounterFamily(r, { name: 'keyval_read_barriers_total', help: 'Linearizable read barriers requested, by mode (safe: ReadIndex round; lease: leader lease).', labelNames: ['mode'] });
    const readCells: Readonly<Record<string, CounterCell>> = { safe: reads.cell({ mode: 'safe' }), lease: reads.cell({ mode: 'lease' }) };
    const rtt = new HistogramFamily(r, { name: 'etcd_network_peer_round_trip_time_seconds', help: 'Round-Trip-Time histogram between peers', labelNames: ['To'], buckets: ETCD_PEER_RTT_BUCKETS });
    const rttCells = new Map<NodeId, HistogramCell>();
    const sent = new CounterFamily(r, { name: 'keyval_install_snapshot_sent_total', help: 'Snapshot transfers to followers (InstallSnapshot), by result.', labelNames: ['result'] });
    const sentOk = sent.cell({ result: 'ok' });
    const sentFailed = sent.cell({ result: 'failed' });
    const sentBytes = new CounterFamily(r, { name: 'keyval_install_snapshot_sent_bytes_total', help: 'Bytes of snapshots sent to followers.' }).cell({});
    return {
      proposalCommitted: (latencyMs) => commit.observeMs(latencyMs),
      proposalsFailed: (count) => failed.inc(count),
      applied: (entries, durationMs) => {
        apply.observeMs(durationMs);
        applyBatch.observe(entries);
      },
      readBarrier: (mode: ReadMode) => readCells[mode]?.inc(),
      heartbeatRoundTrip: (peer, roundTripMs) => {
        let cell = rttCells.get(peer);
        if (cell === undefined) {
          cell = rtt.cell({ To: hex(peer) });
          rttCells.set(peer, cell);
        }
        cell.observeMs(roundTripMs);
      },
      snapshotSent: (ok, bytes) => {
        (ok ? sentOk : sentFailed).inc();
        sentBytes.inc(bytes);
      },
    };
  }

  private transportObserver(): TransportObserver {
    const r = this.registry;
    const sent = new CounterFamily(r, { name: 'etcd_network_peer_sent_bytes_total', help: 'The total number of bytes sent to peers.', labelNames: ['To'] });
    const received = new CounterFamily(r, { name: 'etcd_network_peer_received_bytes_total', help: 'The total number of bytes received from peers.', labelNames: ['From'] });
    const failures = new CounterFamily(r, { name: 'etcd_network_peer_sent_failures_total', help: 'The total number of send failures from peers.', labelNames: ['To'] });
    const heartbeats = new CounterFamily(r, {
      name: 'etcd_server_heartbeat_send_failures_total',
      help: 'The total number of leader heartbeat send failures (likely overloaded from slow disk).',
    }).cell({});
    return {
      peer: (peer): PeerObserver => {
        const id = hex(peer);
        const sentCell = sent.cell({ To: id });
        const receivedCell = received.cell({ From: id });
        const failureCell = failures.cell({ To: id });
        return {
          sent: (bytes) => sentCell.inc(bytes),
          received: (bytes) => receivedCell.inc(bytes),
          sendFailed: (messages) => failureCell.inc(messages),
          heartbeatSendFailed: (count) => heartbeats.inc(count),
        };
      },
    };
  }

  private walObserver(): WalObserver {
    const fsync = new HistogramFamily(this.registry, {
      name: 'etcd_disk_wal_fsync_duration_seconds',
      help: 'The latency distributions of fsync called by WAL.',
      buckets: ETCD_DISK_BUCKETS,
    }).cell({});
    // A gauge that only grows, as etcd 3.4 declares it.
    const written = new CounterFamily(this.registry, { name: 'etcd_disk_wal_write_bytes_total', help: 'Total number of bytes written in WAL.' }, 'gauge').cell({});
    return {
      written: (bytes) => written.inc(bytes),
      synced: (durationMs) => fsync.observeMs(durationMs),
    };
  }

  private backendObserver(): BackendObserver {
    const commit = new HistogramFamily(this.registry, {
      name: 'etcd_disk_backend_commit_duration_seconds',
      help: 'The latency distributions of commit called by backend.',
      buckets: ETCD_DISK_BUCKETS,
    }).cell({});
    return { committed: (durationMs) => commit.observeMs(durationMs) };
  }

  private snapshotObserver(): SnapshotObserver {
    const r = this.registry;
    const taken = new CounterFamily(r, { name: 'keyval_snapshots_total', help: 'Snapshots of the state machine taken by this member.' }).cell({});
    const duration = new HistogramFamily(r, { name: 'keyval_snapshot_duration_seconds', help: 'Time to write one snapshot of the state machine.', buckets: SNAPSHOT_DURATION_BUCKETS }).cell({});
    const lastBytes = { value: 0 };
    gaugeFamily(r, { name: 'keyval_snapshot_last_bytes', help: 'Size of the last snapshot this member took.' }, () => [[{}, lastBytes.value]]);
    const received = new CounterFamily(r, { name: 'keyval_install_snapshot_received_total', help: 'Snapshot transfers from the leader (InstallSnapshot), by result.', labelNames: ['result'] });
    const receivedOk = received.cell({ result: 'ok' });
    const receivedFailed = received.cell({ result: 'failed' });
    const receivedBytes = new CounterFamily(r, { name: 'keyval_install_snapshot_received_bytes_total', help: 'Bytes of snapshots received from the leader.' }).cell({});
    return {
      created: (durationMs, bytes) => {
        taken.inc();
        duration.observeMs(durationMs);
        lastBytes.value = bytes;
      },
      received: (ok, bytes) => {
        (ok ? receivedOk : receivedFailed).inc();
        receivedBytes.inc(bytes);
      },
    };
  }

  /** The families read from the attached member at each scrape. */
  private stateGauges(): void {
    const r = this.registry;
    const whenAttached = <T>(read: (m: KvMember) => T, otherwise: T): (() => T) => () => (this.member === undefined ? otherwise : read(this.member));
    const one = (value: number | boolean): GaugeSample<never>[] => [[{}, Number(value)]];
    gaugeFamily(r, { name: 'etcd_server_has_leader', help: 'Whether or not a leader exists. 1 is existence, 0 is not.' }, whenAttached((m) => one(m.driver.currentLeader() !== 0n), one(0)));
    gaugeFamily(r, { name: 'etcd_server_is_leader', help: 'Whether or not this member is a leader. 1 if is, 0 otherwise.' }, whenAttached((m) => one(m.driver.isLeader()), one(0)));
    gaugeFamily(r, { name: 'etcd_server_is_learner', help: 'Whether or not this member is a learner. 1 if is, 0 otherwise.' }, whenAttached((m) => one(m.status().config.learners.includes(m.id)), one(0)));
    gaugeFamily(r, { name: 'etcd_server_proposals_committed_total', help: 'The total number of consensus proposals committed.' }, whenAttached((m) => one(m.status().commit), []));
    gaugeFamily(r, { name: 'etcd_server_proposals_applied_total', help: 'The total number of consensus proposals applied.' }, whenAttached((m) => one(m.status().applied), []));
    gaugeFamily(r, { name: 'etcd_server_proposals_pending', help: 'The current number of pending proposals to commit.' }, whenAttached((m) => one(m.driver.pendingProposals), one(0)));
    gaugeFamily(
      r,
      { name: 'etcd_server_snapshot_apply_in_progress_total', help: '1 if the server is applying the incoming snapshot. 0 if none.' },
      whenAttached((m) => one(m.driver.installingSnapshot), one(0)),
    );
    gaugeFamily(r, { name: 'etcd_server_id', help: 'Server or member ID in hexadecimal format. 1 for \'server_id\' label with current ID.', labelNames: ['server_id'] }, whenAttached((m) => [[{ server_id: hex(m.id) }, 1]], []));
    gaugeFamily(r, { name: 'etcd_server_quota_backend_bytes', help: 'Current backend storage quota size in bytes.' }, whenAttached((m) => one(m.alarms.quota.quotaBytes), []));
    gaugeFamily(
      r,
      { name: 'keyval_alarms_active', help: 'Active alarms of the cluster (etcd\'s alarm list) of each type: how many members raised one (0 when none).', labelNames: ['alarm'] },
      // Every type always has a series (0 when none is active), so rules and dashboards see
      // the metric before the first alarm; `etcdctl alarm list` names the members.
      whenAttached((m) => ALARM_TYPES.map((type) => [{ alarm: type }, m.alarms.active().filter((a) => a.alarm === type).length] as GaugeSample<'alarm'>), []),
    );
    gaugeFamily(r, { name: 'keyval_raft_term', help: 'The current Raft term of this member.' }, whenAttached((m) => one(m.driver.currentTerm()), []));
    gaugeFamily(r, { name: 'keyval_disk_full', help: '1 while the write-ahead log refuses writes because the disk is full (NOSPACE), else 0.' }, whenAttached((m) => one(m.logStore.health().state === 'disk-full'), one(0)));
    gaugeFamily(r, { name: 'keyval_client_sessions', help: 'Client sessions the state machine keeps for exactly-once retries.' }, whenAttached((m) => one(m.stateMachine.sessions().length), []));
    this.diskGauges();
    this.lagGauges();
  }

  private diskGauges(): void {
    const usage = async (): Promise<{ walBytes: number; dbBytes: number; snapshotBytes: number } | undefined> => (this.disk === undefined ? undefined : this.disk.measure());
    const gauge = (name: string, help: string, pick: (u: { walBytes: number; dbBytes: number; snapshotBytes: number }) => number): void =>
      gaugeFamily(this.registry, { name, help }, async () => {
        const u = await usage();
        return u === undefined ? [] : [[{}, pick(u)]];
      });
    gauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', (u) => u.dbBytes);
    gauge('keyval_disk_wal_bytes', 'Bytes of write-ahead log segments in the data dir.', (u) => u.walBytes);
    gauge('keyval_disk_snapshot_bytes', 'Bytes of snapshot files kept in the data dir.', (u) => u.snapshotBytes);
  }

  /** On the leader, each follower's lag behind its last index, in entries and bytes. */
  private lagGauges(): void {
    const followers = async (): Promise<{ name: string; lag: number; bytes: number }[]> => {
      const m = this.member;
      if (m === undefined || this.disk === undefined || !m.driver.isLeader()) {
        return [];
      }
      const status = await memberStatus(m, this.disk);
      return status.followers.map((f) => ({ name: f.name === '' ? hex(f.id) : f.name, lag: f.lag, bytes: m.logStore.logBytes(f.match, status.lastIndex as LogIndex) }));
    };
    gaugeFamily(this.registry, { name: 'keyval_follower_lag_entries', help: 'On the leader: entries each follower is behind the leader\'s last index.', labelNames: ['follower'] }, async () =>
      (await followers()).map((f) => [{ follower: f.name }, f.lag] as const),
    );
    gaugeFamily(this.registry, { name: 'keyval_follower_lag_bytes', help: 'On the leader: bytes of log entries each follower is behind the leader\'s last index.', labelNames: ['follower'] }, async () =>
      (await followers()).map((f) => [{ follower: f.name }, f.bytes] as const),
    );
  }
}
