import { GrpcChannel, GrpcServer, GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { KvSessionClient, classifyError } from './kv-session-client';
import { REASONS, outcomeTrailers } from '@keyval/outcome';

const refused = (reason: string): Record<string, string> => outcomeTrailers({ outcome: 'not-applied', reason });

/** What a scripted member does with one write attempt. */
type Behaviour = 'ok' | 'hang' | 'not-leader' | 'expired' | 'rejected';

interface Attempt {
  readonly server: string;
  readonly clientId: string | undefined;
  readonly seq: string | undefined;
}

/** A member whose write answers follow a script shared by all members (one entry per attempt). */
class ScriptedMember {
  readonly server = new GrpcServer();
  port = 0;

  constructor(
    readonly name: string,
    private readonly script: Behaviour[],
    private readonly attempts: Attempt[],
    private readonly txns: etcd.TxnRequest[],
  ) {
    this.server.addService(etcd.KVDefinition, {
      put: async (_req, call) => {
        await this.act(call.metadata.get('keyval-client-id'), call.metadata.get('keyval-seq'));
        return etcd.PutResponse.fromPartial({});
      },
      txn: async (req, call) => {
        this.txns.push(req);
        await this.act(call.metadata.get('keyval-client-id'), call.metadata.get('keyval-seq'));
        return etcd.TxnResponse.fromPartial({ succeeded: true });
      },
      range: async (req) => {
        const behaviour = this.script.shift() ?? 'ok';
        if (behaviour === 'not-leader') throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader', { metadata: refused(REASONS.notLeader) });
        if (behaviour === 'hang') await new Promise((resolve) => setTimeout(resolve, 1_000));
        return etcd.RangeResponse.fromPartial({ kvs: req.key.toString() === 'present' ? [{ key: req.key, value: Buffer.from(`v@${this.name}`) }] : [] });
      },
    });
  }

  private async act(clientId: string | undefined, seq: string | undefined): Promise<void> {
    this.attempts.push({ server: this.name, clientId, seq });
    switch (this.script.shift() ?? 'ok') {
      case 'ok':
        return;
      case 'hang':
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return;
      case 'not-leader':
        throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader', { metadata: refused(REASONS.notLeader) });
      case 'expired':
        throw new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, 'session of client x is unknown or expired (sequence 2); start a new session at sequence 1', { metadata: refused(REASONS.sessionExpired) });
      case 'rejected':
        throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key is not provided');
    }
  }
}

describe('KvSessionClient', () => {
  let script: Behaviour[];
  let attempts: Attempt[];
  let txns: etcd.TxnRequest[];
  let members: ScriptedMember[];
  let channels: GrpcChannel[];
  let client: KvSessionClient;

  beforeEach(async () => {
    script = [];
    attempts = [];
    txns = [];
    members = ['a', 'b'].map((name) => new ScriptedMember(name, script, attempts, txns));
    for (const m of members) m.port = (await m.server.listen(0, '127.0.0.1')).port;
    channels = members.map((m) => new GrpcChannel(`127.0.0.1:${m.port}`));
    client = new KvSessionClient(
      members.map((m, k) => ({ name: m.name, channel: channels[k] as GrpcChannel })),
      0,
      { opTimeoutMs: 1_500, attemptTimeoutMs: 200, clientIdPrefix: 'test' },
    );
  });

  afterEach(async () => {
    for (const c of channels) c.close();
    await Promise.all(members.map((m) => m.server.shutdown(100)));
  });

  it('numbers writes 1, 2, … in one session', async () => {
    expect((await client.put('k', 'v1')).outcome).toEqual({ status: 'ok' });
    expect((await client.put('k', 'v2')).outcome).toEqual({ status: 'ok' });
    expect(attempts.map((a) => [a.clientId, a.seq])).toEqual([
      ['test.0', '1'],
      ['test.0', '2'],
    ]);
  });

  it('retries a timed-out write on the next member with the same client id and sequence', async () => {
    script.push('hang', 'ok');
    const result = await client.put('k', 'v');
    expect(result.outcome).toEqual({ status: 'ok' });
    expect(result.via).toEqual(['a', 'b']);
    expect(attempts.map((a) => [a.server, a.clientId, a.seq])).toEqual([
      ['a', 'test.0', '1'],
      ['b', 'test.0', '1'],
    ]);
  });

  it('ends info when no attempt answers, and the next write takes the next sequence number', async () => {
    script.push(...Array<Behaviour>(20).fill('hang'));
    expect((await client.put('k', 'v')).outcome).toEqual({ status: 'info' });
    script.length = 0;
    await client.put('k', 'w');
    const last = attempts[attempts.length - 1];
    expect(last?.seq).toBe('2');
    expect(new Set(attempts.slice(0, -1).map((a) => a.seq))).toEqual(new Set(['1']));
  });

  it('ends fail when every attempt was refused unapplied, and reuses seq 1 (no session yet)', async () => {
    script.push(...Array<Behaviour>(100).fill('not-leader'));
    expect((await client.put('k', 'v')).outcome).toEqual({ status: 'fail' });
    script.length = 0;
    await client.put('k', 'w');
    expect(attempts[attempts.length - 1]?.seq).toBe('1');
  });

  it('starts a new session when the cluster forgot the old one before anything was applied', async () => {
    await client.put('k', 'v1');
    script.push('expired', 'ok');
    expect((await client.put('k', 'v2')).outcome).toEqual({ status: 'ok' });
    expect(attempts.map((a) => [a.clientId, a.seq])).toEqual([
      ['test.0', '1'],
      ['test.0', '2'],
      ['test.1', '1'],
    ]);
  });

  it('ends info when the session expired after an attempt that may have been applied', async () => {
    await client.put('k', 'v1');
    script.push('hang', 'expired');
    expect((await client.put('k', 'v2')).outcome).toEqual({ status: 'info' });
    await client.put('k', 'v3');
    expect(attempts[attempts.length - 1]).toMatchObject({ clientId: 'test.1', seq: '1' });
  });

  it('ends fail on a definite refusal, info on a refusal after an indeterminate attempt', async () => {
    script.push('rejected');
    expect((await client.put('k', 'v')).outcome).toEqual({ status: 'fail' });
    script.push('hang', 'rejected');
    expect((await client.put('k', 'v')).outcome).toEqual({ status: 'info' });
  });

  it('sends a CAS as a Txn comparing the value (or version 0 for absent) and putting or deleting', async () => {
    expect((await client.cas('k', 'old', 'new')).outcome).toEqual({ status: 'ok', succeeded: true });
    await client.cas('k', null, null);
    const [valueCas, absentCas] = txns;
    expect(valueCas?.compare[0]).toMatchObject({ target: etcd.Compare_CompareTarget.VALUE, result: etcd.Compare_CompareResult.EQUAL });
    expect(valueCas?.compare[0]?.targetUnion).toEqual({ $case: 'value', value: Buffer.from('old') });
    expect(valueCas?.success[0]?.request?.$case).toBe('requestPut');
    expect(absentCas?.compare[0]?.targetUnion).toEqual({ $case: 'version', value: 0n });
    expect(absentCas?.success[0]?.request?.$case).toBe('requestDeleteRange');
  });

  it('reads at home first, moves on after a definite refusal, and reports a timed-out read as info', async () => {
    expect((await client.get('present')).outcome).toEqual({ status: 'ok', output: 'v@a' });
    expect((await client.get('absent')).outcome).toEqual({ status: 'ok', output: null });
    script.push('not-leader');
    const moved = await client.get('present');
    expect(moved.outcome).toEqual({ status: 'ok', output: 'v@b' });
    expect(moved.via).toEqual(['a', 'b']);
    script.push('hang');
    expect((await client.get('present')).outcome).toEqual({ status: 'info' });
  });
});

describe('classifyError', () => {
  it.each([
    [new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader', { metadata: refused(REASONS.notLeader) }), 'not-applied'],
    [new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader'), 'indeterminate'], // text alone decides nothing
    [new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: leader changed: proposal lost', { metadata: refused('PROPOSAL_LOST') }), 'not-applied'],
    [new GrpcStatusError(GrpcStatus.UNAVAILABLE, '10.77.0.11:2379: connect ECONNREFUSED 10.77.0.11:2379', { outcome: 'never-sent' }), 'not-applied'],
    [new GrpcStatusError(GrpcStatus.UNAVAILABLE, '10.77.0.11:2379: read ECONNRESET'), 'indeterminate'],
    [new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline of 2000 ms exceeded'), 'indeterminate'],
    [new GrpcStatusError(GrpcStatus.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'), 'not-applied'],
    [new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, 'session of client c is unknown or expired (sequence 4)', { metadata: refused(REASONS.sessionExpired) }), 'session-expired'],
    [new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, 'stale sequence number 3'), 'rejected'],
    [new GrpcStatusError(GrpcStatus.INTERNAL, 'internal error'), 'indeterminate'],
    [new Error('socket hang up'), 'indeterminate'],
  ])('%s → %s', (error, expected) => {
    expect(classifyError(error)).toBe(expected);
  });
});
