import type { ClientRequest, ReplyOutcome } from './client-protocol';
import { EventQueue } from './event-queue';
import type { ClientProfile } from './fault-profile';
import { HistoryRecorder } from './history';
import { SimClient } from './sim-client';
import type { ClientHost } from './sim-client';
import { SimRandom } from './sim-random';

const profile: ClientProfile = { count: 1, keys: 1, thinkMaxMs: 0, attemptTimeoutMs: 100, opDeadlineMs: 1000, randomMemberProb: 0, leaseReadProb: 0 };

/** A host whose "members" are a function of the request: it decides the reply (or silence). */
class FakeHost implements ClientHost {
  now = 0;
  readonly queue = new EventQueue();
  readonly sent: { member: number; request: ClientRequest }[] = [];
  client!: SimClient;

  constructor(private readonly respond: (member: number, request: ClientRequest, nth: number) => ReplyOutcome | undefined) {}

  schedule(delayMs: number, run: () => void): void {
    this.queue.push(this.now + delayMs, run);
  }

  sendRequest(_client: SimClient, member: number, request: ClientRequest): void {
    this.sent.push({ member, request });
    const outcome = this.respond(member, request, this.sent.length);
    if (outcome !== undefined) {
      this.schedule(1, () => this.client.onReply({ client: 0, opId: request.opId, attempt: request.attempt, outcome }));
    }
  }

  memberIds(): readonly number[] {
    return [1, 2, 3];
  }

  readonly lines: string[] = [];

  log(line: string): void {
    this.lines.push(line);
  }

  runUntil(ms: number): void {
    while ((this.queue.peekTime() ?? Infinity) <= ms) {
      const e = this.queue.pop()!;
      this.now = e.time;
      e.run();
    }
  }
}

function setUp(respond: (member: number, request: ClientRequest, nth: number) => ReplyOutcome | undefined, seed = 1): { host: FakeHost; history: HistoryRecorder; client: SimClient } {
  const host = new FakeHost(respond);
  const history = new HistoryRecorder();
  const client = new SimClient(0, profile, new SimRandom(seed), history, host);
  host.client = client;
  return { host, history, client };
}

describe('SimClient', () => {
  it('follows a redirect to the leader it names and records the answer', () => {
    const { host, history, client } = setUp((member) => (member === 2 ? { type: 'ok', value: null, succeeded: true } : { type: 'redirect', leader: 2 }));
    client.start(0);
    host.runUntil(50);
    client.stop();
    host.runUntil(2000);
    expect(history.ops.length).toBeGreaterThan(0);
    expect(history.ops.every((r) => r.op.status === 'ok')).toBe(true);
    const firstRedirect = host.sent.findIndex((s) => s.member !== 2);
    expect(host.sent.slice(firstRedirect + 1).every((s) => s.member === 2)).toBe(true);
    expect(host.sent.length).toBeGreaterThan(3);
  });

  it('never re-sends a write whose attempt went unanswered: it becomes indeterminate (info) under a new process', () => {
    const { host, history, client } = setUp(() => undefined);
    client.start(0);
    host.runUntil(5000);
    client.stop();
    host.runUntil(10_000);
    const writes = history.ops.filter((r) => r.op.f !== 'get');
    expect(writes.length).toBeGreaterThan(0);
    for (const w of writes) {
      expect(w.op.status).toBe('info');
      expect(w.attempts).toBe(1);
      expect(host.sent.filter((s) => s.request.opId === w.opId)).toHaveLength(1);
    }
    const processes = history.ops.map((r) => r.op.process);
    expect(new Set(processes).size).toBeGreaterThan(1);
  });

  it('retries reads after silence until the deadline, then fails them', () => {
    const { host, history, client } = setUp(() => undefined, 3);
    client.start(0);
    host.runUntil(20_000);
    const reads = history.ops.filter((r) => r.op.f === 'get');
    expect(reads.length).toBeGreaterThan(0);
    for (const r of reads) {
      expect(r.op.status).toBe('fail');
      expect(r.attempts).toBeGreaterThan(1);
      expect(r.returnMs - r.callMs).toBeLessThanOrEqual(profile.opDeadlineMs + profile.attemptTimeoutMs);
    }
  });

  it('retries a write after a definite refusal, and fails it at the deadline if every attempt was refused', () => {
    const { host, history, client } = setUp((_m, request) => (request.kind === 'get' ? { type: 'ok', value: null } : { type: 'rejected', reason: 'transfer in progress' }));
    client.start(0);
    host.runUntil(5000);
    const writes = history.ops.filter((r) => r.op.f !== 'get');
    expect(writes.length).toBeGreaterThan(0);
    for (const w of writes) {
      expect(w.op.status).toBe('fail');
      expect(w.attempts).toBeGreaterThan(1);
    }
  });

  it('records invoke and complete points in strictly increasing logical time', () => {
    const { host, history, client } = setUp((_m, request) => (request.kind === 'get' ? { type: 'ok', value: 'v' } : { type: 'ok', succeeded: true }));
    client.start(0);
    host.runUntil(500);
    const times = history.ops.flatMap((r) => [r.op.callTime, r.op.returnTime!]);
    for (let k = 1; k < times.length; k++) {
      expect(times[k]).toBeGreaterThan(times[k - 1]!);
    }
  });
});
