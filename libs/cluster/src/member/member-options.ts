/**
 * What a member is started with: the etcd-named settings the app parses from flags and
 * environment variables, already validated.
 */
import type { DriverLogger } from '../driver/raft-driver';
import type { PeerTls } from '../transport/peer-credentials';
import type { AutoCompactionOptions } from './auto-compactor';
import type { Tracer } from '@opentelemetry/api';
import type { MemberObserver } from './member-observer';

export interface InitialMember {
  readonly name: string;
  readonly peerUrls: readonly string[];
}

export type InitialClusterState = 'new' | 'existing';

export interface KvMemberOptions {
  readonly name: string;
  readonly dataDir: string;
  /** host:port the peer server listens on. */
  readonly listenPeer: string;
  readonly advertisePeerUrls: readonly string[];
  readonly advertiseClientUrls: readonly string[];
  readonly initialCluster: readonly InitialMember[];
  readonly initialClusterState: InitialClusterState;
  readonly initialClusterToken: string;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  /** Length of a core tick; heartbeat and election timeouts are whole numbers of it. */
  readonly tickMs: number;
  /** Serve reads under the leader lease instead of a heartbeat round. */
  readonly leaseReads: boolean;
  readonly snapshotEveryEntries: number;
  readonly compactionTrailingEntries: number;
  /** A learner within this many entries of the leader counts as caught up. */
  readonly promoteLagEntries: number;
  /** The leader promotes caught-up learners by itself. */
  readonly autoPromoteLearners: boolean;
  /** Mutual TLS between members (https:// peer URLs). */
  readonly peerTls?: PeerTls;
  /** Compact the history automatically (etcd's --auto-compaction-*); undefined: never. */
  readonly autoCompaction?: AutoCompactionOptions;
  /**
   * The space quota (etcd's --quota-backend-bytes, resolved: see resolveQuotaBackendBytes),
   * bytes of database on disk. Default: etcd's 2 GiB.
   */
  readonly quotaBackendBytes?: number;
  readonly logger: DriverLogger;
  /** Called once this member has been removed from the cluster (the process should exit). */
  readonly onRemoved?: () => void;
  /** Called on a fatal error; the process must exit. */
  readonly onFatal: (error: Error) => void;
  /** Hears what the member does (metrics; see member-observer.ts). Default: none. */
  readonly observer?: MemberObserver;
  /** Traces the write path (proposal, persist, replication, apply) of writes made inside a span. Default: none. */
  readonly tracer?: Tracer;
}

export class MemberConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemberConfigError';
  }
}
