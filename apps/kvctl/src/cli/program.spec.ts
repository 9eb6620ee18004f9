import { runKvctl } from './program';
import { parseDurationMs } from './cli-context';
import { UsageError } from './cli-errors';
import { EndpointsError, parseEndpoints } from '../client/endpoints';
import { ClusterUnreachableError, retryable } from '../client/keyval-client';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { REASONS, outcomeTrailers } from '@keyval/outcome';
import type { Outcome } from '@keyval/outcome';
import { statusFailure } from '../commands/cluster-status';
import type { MemberStatusRow } from '../commands/cluster-status';

/** Runs kvctl in-process with captured output. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runKvctl(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

describe('kvctl command line (no cluster needed)', () => {
  it('exits 0 for --help and --version, 2 with one line for usage errors', async () => {
    expect(await run('--help')).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: kvctl') });
    expect((await run('--version')).code).toBe(0);
    expect((await run('member', 'add', '--help')).stdout).toContain('--peer-urls <urls>');
    for (const argv of [[], ['bogus'], ['get'], ['member'], ['member', 'add', 'n4'], ['-o', 'xml', 'get', 'k'], ['--endpoints', 'ftp://a:1', 'get', 'k'], ['--cert', 'only-a-cert.pem', 'get', 'k'], ['--timeout', 'soon', 'get', 'k'], ['txn', '--if', 'k == v'], ['bench', 'sideways']]) {
      const r = await run(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
    }
    const bad = await run('-o', 'xml', 'get', 'k');
    expect(bad.stderr).toBe('kvctl: -o/--output: expected table, json, simple, got "xml"\n');
    expect(bad.stdout).toBe('');
  });

  it('exits 1 with one line when no endpoint can be reached', async () => {
    const r = await run('--endpoints', '127.0.0.1:1', '--timeout', '1s', 'get', 'k');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kvctl: cannot reach the cluster at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)\n$/);
  });

  it('snapshot save into a missing directory says so in one line, before contacting the cluster', async () => {
    const r = await run('--endpoints', '127.0.0.1:1', 'snapshot', 'save', '/nonexistent-kvctl-dir/backup.snap');
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'kvctl: cannot save to /nonexistent-kvctl-dir/backup.snap: the directory /nonexistent-kvctl-dir does not exist\n' });
    const notDir = await run('--endpoints', '127.0.0.1:1', 'snapshot', 'save', '/etc/hostname/backup.snap');
    expect(notDir.stderr).toBe('kvctl: cannot save to /etc/hostname/backup.snap: /etc/hostname is not a directory\n');
  });

  it('status fails (as etcdctl endpoint health does) on an unreachable or unhealthy member or no leader, not on a degraded one', () => {
    const row = (name: string, health: string, isLeader = false): MemberStatusRow => ({
      name, id: name, endpoint: undefined, isLeader, role: isLeader ? 'leader' : 'follower', term: 2, commit: 1, applied: 1, lag: 0, dbBytes: 1, walBytes: 1, health, problems: [],
    });
    expect(statusFailure([row('n1', 'ok', true), row('n2', 'ok'), row('n3', 'degraded')])).toBeUndefined();
    expect(statusFailure([row('n1', 'ok', true), row('n2', 'unreachable'), row('n3', 'unhealthy')])).toBe('2 of 3 members not healthy: n2 unreachable; n3 unhealthy');
    expect(statusFailure([row('n1', 'ok'), row('n2', 'ok')])).toBe('0 of 2 members not healthy: no member answered as the leader');
  });

  it('parses endpoints as etcdctl takes them', () => {
    expect(parseEndpoints('127.0.0.1:2379, http://localhost:22379,127.0.0.1:2379')).toEqual(['127.0.0.1:2379', 'localhost:22379']);
    expect(parseEndpoints('[::1]:2379')).toEqual(['[::1]:2379']);
    expect(() => parseEndpoints('')).toThrow(EndpointsError);
    expect(() => parseEndpoints('127.0.0.1')).toThrow(/explicit port/);
    expect(parseEndpoints('https://a:1')).toEqual(['a:1']);
    expect(() => parseEndpoints('ftp://a:1')).toThrow(/only http/);
  });

  it('parses durations', () => {
    expect(parseDurationMs('5000', '--timeout')).toBe(5000);
    expect(parseDurationMs('5s', '--timeout')).toBe(5000);
    expect(parseDurationMs('2m', '--timeout')).toBe(120_000);
    expect(() => parseDurationMs('0', '--timeout')).toThrow(UsageError);
    expect(() => parseDurationMs('5h', '--timeout')).toThrow(UsageError);
  });

  it('retries only what is safe to retry', () => {
    const answer = (details: string, outcome: Outcome, reason?: string): GrpcStatusError => new GrpcStatusError(GrpcStatus.UNAVAILABLE, details, { metadata: outcomeTrailers({ outcome, reason }) });
    const lost = new GrpcStatusError(GrpcStatus.UNAVAILABLE, '127.0.0.1:2379: the connection closed');
    for (const kind of ['read', 'write', 'change'] as const) {
      expect(retryable(kind, answer('etcdserver: not leader', 'not-applied', REASONS.notLeader))).toBe(true);
      expect(retryable(kind, answer('etcdserver: no leader', 'not-applied', REASONS.noLeader))).toBe(true);
      expect(retryable(kind, answer('etcdserver: server stopped', 'not-applied', 'MEMBER_STOPPED'))).toBe(true);
      expect(retryable(kind, new GrpcStatusError(GrpcStatus.UNAVAILABLE, '127.0.0.1:2379: connect ECONNREFUSED 127.0.0.1:2379', { outcome: 'never-sent' }))).toBe(true);
      expect(retryable(kind, new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, 'etcdserver: member not found'))).toBe(false);
      expect(retryable(kind, new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, 'too slow'))).toBe(false);
    }
    // A member that stopped with the change pending may have made it: only reads and session writes go again.
    const stopped = answer('etcdserver: server stopped', 'maybe-applied', 'MEMBER_STOPPED');
    expect(retryable('change', stopped)).toBe(false);
    expect(retryable('change', new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader'))).toBe(false);
    // A connection lost mid-call: the request may have been applied. Reads and session writes
    // (applied at most once) may go again; membership changes may not.
    expect(retryable('read', lost)).toBe(true);
    expect(retryable('write', lost)).toBe(true);
    expect(retryable('change', lost)).toBe(false);
    expect(new ClusterUnreachableError(['a:1', 'b:2'], 'refused').message).toBe('cannot reach the cluster at a:1, b:2 (refused)');
  });
});
