/**
 * In-process fake members for the gateway's tests: each is a real GrpcServer on a loopback
 * port answering Maintenance.Status, Cluster.MemberList and a small KV (Put, Range of one key,
 * Txn comparing one value) over one shared store with KeyVal's session rules (§6.3: apply a
 * sequence once, replay its answer, refuse stale or unknown sessions). The test decides who
 * leads and injects faults: lost answers after applying, held requests, killed members.
 *
 *     FakeCluster ── members[i]: GrpcServer ── Status {leader: cluster.leaderOf(i)} / MemberList
 *          │                                 └─ KV: not leader? UNAVAILABLE + hint : apply to the store
 *          └── store: key → value, sessions: client → { lastSeq, answer }
 *
 * Members also serve KVBatch (each call of a batch handled as the unary call it carries)
 * unless the cluster's `batching` is false: then they answer it UNIMPLEMENTED, as a member of
 * an older version would.
 */
import { GrpcServer, GrpcStatus, GrpcStatusError, Metadata } from '@keyval/grpc';
import type { ServerCall } from '@keyval/grpc';
import { etcd, kvbatch } from '@keyval/proto';
import { REASONS, outcomeTrailers } from '@keyval/outcome';

interface SessionRecord {
  lastSeq: number;
  answer: unknown;
}

/** One write the store applied, in order. */
export interface AppliedWrite {
  readonly member: string;
  readonly clientId: string | undefined;
  readonly seq: number | undefined;
}

/** Faults a member injects into the KV calls it serves. */
export interface Faults {
  /** Apply the next N writes, then answer UNAVAILABLE as if the connection broke. */
  loseAnswers: number;
  /** Hold every KV call until `release()` (or the call's deadline). */
  hold: boolean;
  /** Answer the next N calls (any method, before doing anything) "etcdserver: no leader". */
  noLeader: number;
}

export class FakeMember {
  server: GrpcServer;
  port = 0;
  alive = false;
  readonly faults: Faults = { loseAnswers: 0, hold: false, noLeader: 0 };
  /** Calls served, by method name (Put, Range, Txn, Status, ...). */
  readonly calls = new Map<string, number>();
  /** Metadata of the writes it received (client id, seq), in order. */
  readonly writeMetadata: { clientId: string | undefined; seq: string | undefined }[] = [];
  private held: (() => void)[] = [];

  constructor(
    readonly cluster: FakeCluster,
    readonly id: bigint,
    readonly name: string,
  ) {
    this.server = this.makeServer();
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    if (this.alive) return;
    this.server = this.makeServer();
    this.port = (await this.server.listen(port, '127.0.0.1')).port;
    this.alive = true;
  }

  /** Like SIGKILL: every connection is cut, nothing is answered; start() brings it back on its port. */
  kill(): void {
    this.alive = false;
    this.server.forceClose();
  }

  /** Lets held calls go on. */
  release(): void {
    this.faults.hold = false;
    for (const go of this.held.splice(0)) go();
  }

  count(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  private makeServer(): GrpcServer {
    const server = new GrpcServer({ exposeInternalErrors: true });
    server.addService(etcd.MaintenanceDefinition, {
      status: () => {
        this.bump('Status');
        return etcd.StatusResponse.fromPartial({ header: this.header(), leader: this.cluster.leaderSeenBy(this), raftTerm: BigInt(this.cluster.term), version: 'fake' });
      },
    });
    server.addService(etcd.ClusterDefinition, {
      memberList: () => {
        this.bump('MemberList');
        return etcd.MemberListResponse.fromPartial({ header: this.header(), members: this.cluster.memberList() });
      },
      memberAdd: () => {
        this.bump('MemberAdd');
        throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'the connection broke (fake)');
      },
    });
    server.addService(kvbatch.KVBatchDefinition, {
      execute: async (req, call) => {
        if (!this.cluster.batching) {
          throw new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, 'unknown service keyval.kvbatch.v1.KVBatch (fake: an older member)');
        }
        this.bump('Execute');
        return { results: await Promise.all(req.calls.map((one) => this.batchCall(one, call))) };
      },
    });
    server.addService(etcd.KVDefinition, {
      put: (req, call) => this.kv('Put', call, () => this.cluster.put(req)),
      range: (req, call) => this.kv('Range', call, () => this.cluster.range(req), req.serializable),
      txn: (req, call) => this.kv('Txn', call, () => this.cluster.txn(req)),
    });
    return server;
  }

  /** One call of a KVBatch, as the unary call it carries. */
  private async batchCall(one: kvbatch.BatchCall, batch: ServerCall): Promise<kvbatch.BatchResult> {
    const metadata = new Metadata();
    for (const entry of one.metadata) metadata.add(entry.key, entry.value);
    const call: ServerCall = {
      path: `/etcdserverpb.KV/${one.method}`,
      peer: batch.peer,
      metadata,
      deadline: Date.now() + one.timeoutMs,
      signal: batch.signal,
      setHeader: () => undefined,
      setTrailer: () => undefined,
    };
    try {
      let response: Uint8Array;
      if (one.method === 'Put') {
        const req = etcd.PutRequest.decode(one.request);
        response = etcd.PutResponse.encode(await this.kv('Put', call, () => this.cluster.put(req))).finish();
      } else if (one.method === 'Txn') {
        const req = etcd.TxnRequest.decode(one.request);
        response = etcd.TxnResponse.encode(await this.kv('Txn', call, () => this.cluster.txn(req))).finish();
      } else {
        throw new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, `fake: no ${one.method} in batches`);
      }
      return { code: GrpcStatus.OK, message: '', response: Buffer.from(response), trailers: [] };
    } catch (error) {
      if (!(error instanceof GrpcStatusError)) throw error;
      const trailers = Object.entries(error.metadata).flatMap(([key, value]) => (typeof value === 'string' ? [{ key, value }] : []));
      return { code: error.code, message: error.details, response: Buffer.alloc(0), trailers };
    }
  }

  private header(): etcd.ResponseHeader {
    return etcd.ResponseHeader.fromPartial({ clusterId: 1n, memberId: this.id, raftTerm: BigInt(this.cluster.term) });
  }

  private bump(method: string): void {
    this.calls.set(method, this.count(method) + 1);
  }

  private async kv<T>(method: string, call: ServerCall, apply: () => T, serializable = false): Promise<T> {
    this.bump(method);
    if (this.faults.noLeader > 0) {
      this.faults.noLeader -= 1;
      throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: no leader', { metadata: refused(REASONS.noLeader) });
    }
    if (this.faults.hold) {
      await new Promise<void>((resolve) => {
        this.held.push(resolve);
        call.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    if (!serializable && this.cluster.leader !== this.id) {
      const noLeader = this.cluster.leader === 0n;
      const metadata = noLeader ? refused(REASONS.noLeader) : { ...refused(REASONS.notLeader), 'keyval-leader': this.cluster.leader.toString(16) };
      throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, noLeader ? 'etcdserver: no leader' : 'etcdserver: not leader', { metadata });
    }
    if (method === 'Range') {
      return apply();
    }
    const clientId = call.metadata.get('keyval-client-id');
    const seqText = call.metadata.get('keyval-seq');
    this.writeMetadata.push({ clientId, seq: seqText });
    const answer = this.cluster.applySession(this.name, clientId, seqText === undefined ? undefined : Number(seqText), apply);
    if (this.faults.loseAnswers > 0) {
      this.faults.loseAnswers -= 1;
      throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'read ECONNRESET (fake: the answer was lost after the write applied)');
    }
    return answer;
  }
}

export class FakeCluster {
  readonly members: FakeMember[] = [];
  leader = 0n;
  term = 1;
  revision = 1;
  readonly store = new Map<string, Buffer>();
  readonly sessions = new Map<string, SessionRecord>();
  readonly applied: AppliedWrite[] = [];
  /** What a member reports as leader, when it differs from `leader` (a lagging view). */
  readonly views = new Map<bigint, bigint>();
  /** Members serve KVBatch; false: they answer it UNIMPLEMENTED (an older member). */
  batching = true;

  /** Starts `size` members; the first leads. */
  static async start(size: number): Promise<FakeCluster> {
    const cluster = new FakeCluster();
    for (let i = 0; i < size; i++) {
      await cluster.addMember();
    }
    cluster.leader = cluster.members[0]?.id ?? 0n;
    return cluster;
  }

  async addMember(): Promise<FakeMember> {
    const n = this.members.length + 1;
    const member = new FakeMember(this, BigInt(0x1000 + n), `f${n}`);
    await member.start();
    this.members.push(member);
    return member;
  }

  removeMember(member: FakeMember): void {
    this.members.splice(this.members.indexOf(member), 1);
    member.kill();
  }

  /** Moves leadership to `member` (undefined: no leader) in a new term. */
  setLeader(member: FakeMember | undefined): void {
    this.leader = member?.id ?? 0n;
    this.term += 1;
    this.views.clear();
  }

  leaderSeenBy(member: FakeMember): bigint {
    return this.views.get(member.id) ?? this.leader;
  }

  memberList(): etcd.Member[] {
    return this.members.map((m) => etcd.Member.fromPartial({ ID: m.id, name: m.name, peerURLs: [`http://127.0.0.1:1${m.name}`], clientURLs: [`http://${m.endpoint}`] }));
  }

  async close(): Promise<void> {
    for (const m of this.members) {
      m.release();
      m.kill();
    }
  }

  /** Applies a write once per (client, seq), with the state machine's session rules. */
  applySession<T>(member: string, clientId: string | undefined, seq: number | undefined, apply: () => T): T {
    if (clientId === undefined || seq === undefined) {
      this.applied.push({ member, clientId, seq });
      return apply();
    }
    const session = this.sessions.get(clientId);
    if (session === undefined && seq > 1) {
      throw new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, `session of client ${clientId} is unknown or expired (sequence ${seq}); start a new session at sequence 1`, { metadata: refused(REASONS.sessionExpired) });
    }
    if (session !== undefined && seq < session.lastSeq) {
      throw new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, `stale sequence number ${seq} for client ${clientId}: ${session.lastSeq} was already applied`, { metadata: refused(REASONS.staleSequence) });
    }
    if (session !== undefined && seq === session.lastSeq) {
      return session.answer as T;
    }
    this.applied.push({ member, clientId, seq });
    const answer = apply();
    this.sessions.set(clientId, { lastSeq: seq, answer });
    return answer;
  }

  put(req: etcd.PutRequest): etcd.PutResponse {
    this.store.set(req.key.toString(), Buffer.from(req.value));
    this.revision += 1;
    return etcd.PutResponse.fromPartial({ header: { revision: BigInt(this.revision), memberId: this.leader } });
  }

  range(req: etcd.RangeRequest): etcd.RangeResponse {
    const value = this.store.get(req.key.toString());
    const kvs = value === undefined ? [] : [{ key: req.key, value }];
    return etcd.RangeResponse.fromPartial({ header: { revision: BigInt(this.revision) }, kvs, count: BigInt(kvs.length) });
  }

  /** Txn with value-equality compares and put-only branches (enough for counters). */
  txn(req: etcd.TxnRequest): etcd.TxnResponse {
    const succeeded = req.compare.every((c) => {
      const current = this.store.get(c.key.toString()) ?? Buffer.alloc(0);
      return c.targetUnion?.$case === 'value' && current.equals(c.targetUnion.value);
    });
    for (const op of succeeded ? req.success : req.failure) {
      if (op.request?.$case === 'requestPut') this.put(op.request.value);
    }
    return etcd.TxnResponse.fromPartial({ header: { revision: BigInt(this.revision) }, succeeded });
  }
}

/** The trailers a real member answers a refusal with (see @keyval/api's error-status.ts). */
function refused(reason: string): Record<string, string> {
  return outcomeTrailers({ outcome: 'not-applied', reason });
}
