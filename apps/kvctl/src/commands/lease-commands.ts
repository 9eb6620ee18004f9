/**
 * Lease commands, worded as etcdctl's: grant, revoke, timetolive (with --keys), list and
 * keep-alive (until interrupted, or --once). A lease id is hexadecimal, as etcdctl prints it.
 */
import type { Command } from 'commander';
import { type ServiceClient, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import type { CliContext } from '../cli/cli-context';
import { parseIntFlag } from '../cli/cli-context';
import { UsageError } from '../cli/cli-errors';

/** Parses a lease id as etcdctl takes it: hexadecimal, at most 16 digits, not zero. */
export function parseLeaseId(text: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new UsageError(`bad lease ID ${JSON.stringify(text)}: expected up to 16 hexadecimal digits`);
  const id = BigInt(`0x${text}`);
  if (id === 0n) throw new UsageError('lease ID 0 means "no lease"');
  return id;
}

/** A lease id as etcdctl prints it: 16 hexadecimal digits. */
const hex = (id: bigint): string => id.toString(16).padStart(16, '0');

/** Longest TTL a grant accepts, s (etcd's MaxLeaseTTL, 9,000,000,000 s, is beyond any use). */
const MAX_TTL_SECONDS = 9_000_000_000;

function leaseClient(ctx: CliContext, cmd: Command, endpoint: string): ServiceClient<typeof etcd.LeaseDefinition> {
  return createClient(etcd.LeaseDefinition, ctx.client(cmd).channel(endpoint));
}

export function registerLeaseCommands(program: Command, ctx: CliContext): void {
  const lease = program.command('lease').description('grant, revoke, inspect and keep alive leases (ids in hexadecimal, as etcdctl)');

  lease
    .command('grant')
    .description('grant a lease of <ttl> seconds')
    .argument('<ttl>')
    .action(async (ttl: string, _o: unknown, cmd: Command) => {
      const seconds = parseIntFlag(ttl, 'ttl', 1, MAX_TTL_SECONDS);
      const r = await ctx.client(cmd).call('change', (e, timeoutMs) => leaseClient(ctx, cmd, e).leaseGrant(etcd.LeaseGrantRequest.fromPartial({ TTL: BigInt(seconds) }), { timeoutMs }));
      if (ctx.globals(cmd).output === 'json') ctx.print(cmd, { id: hex(r.ID), ttl: Number(r.TTL) }, [], []);
      else ctx.out(`lease ${hex(r.ID)} granted with TTL(${r.TTL}s)\n`);
    });

  lease
    .command('revoke')
    .description('revoke a lease, deleting the keys attached to it')
    .argument('<leaseID>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const leaseId = parseLeaseId(id);
      await ctx.client(cmd).call('change', (e, timeoutMs) => leaseClient(ctx, cmd, e).leaseRevoke(etcd.LeaseRevokeRequest.fromPartial({ ID: leaseId }), { timeoutMs }));
      if (ctx.globals(cmd).output === 'json') ctx.print(cmd, { id: hex(leaseId), revoked: true }, [], []);
      else ctx.out(`lease ${hex(leaseId)} revoked\n`);
    });

  lease
    .command('timetolive')
    .description('the granted and remaining TTL of a lease')
    .argument('<leaseID>')
    .option('--keys', 'also the keys attached to it')
    .action(async (id: string, o: { keys?: boolean }, cmd: Command) => {
      const leaseId = parseLeaseId(id);
      const r = await ctx.client(cmd).call('read', (e, timeoutMs) => leaseClient(ctx, cmd, e).leaseTimeToLive(etcd.LeaseTimeToLiveRequest.fromPartial({ ID: leaseId, keys: o.keys === true }), { timeoutMs }));
      const keys = r.keys.map((k) => k.toString('utf8'));
      if (ctx.globals(cmd).output === 'json') {
        ctx.print(cmd, { id: hex(leaseId), ttl: Number(r.TTL), grantedTtl: Number(r.grantedTTL), ...(o.keys === true ? { keys } : {}) }, [], []);
      } else if (r.TTL === -1n) {
        ctx.out(`lease ${hex(leaseId)} already expired\n`);
      } else {
        ctx.out(`lease ${hex(leaseId)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)${o.keys === true ? `, attached keys([${keys.join(' ')}])` : ''}\n`);
      }
    });

  lease
    .command('list')
    .description('every live lease')
    .action(async (_o: unknown, cmd: Command) => {
      const r = await ctx.client(cmd).call('read', (e, timeoutMs) => leaseClient(ctx, cmd, e).leaseLeases({}, { timeoutMs }));
      const ids = r.leases.map((l) => hex(l.ID));
      if (ctx.globals(cmd).output === 'json') ctx.print(cmd, { leases: ids }, [], []);
      else ctx.out(`found ${ids.length} leases\n${ids.map((i) => `${i}\n`).join('')}`);
    });

  lease
    .command('keep-alive')
    .description('keep a lease alive until interrupted (or once with --once)')
    .argument('<leaseID>')
    .option('--once', 'one keep-alive, then exit')
    .action(async (id: string, o: { once?: boolean }, cmd: Command) => {
      const leaseId = parseLeaseId(id);
      await keepAlive(ctx, cmd, leaseId, o.once === true);
    });
}

/**
 * Keeps `leaseId` alive on one member's KeepAlive stream, a third of the TTL apart (as
 * etcd's client), printing each answer; ends when the lease is gone (exit 1, as etcdctl) or
 * after one round with `once`.
 */
async function keepAlive(ctx: CliContext, cmd: Command, leaseId: bigint, once: boolean): Promise<void> {
  const client = ctx.client(cmd);
  await client.call('read', async (endpoint) => {
    const call = leaseClient(ctx, cmd, endpoint).leaseKeepAlive();
    const responses = call.responses[Symbol.asyncIterator]();
    try {
      for (;;) {
        await call.send(etcd.LeaseKeepAliveRequest.fromPartial({ ID: leaseId }));
        const next = await responses.next();
        if (next.done === true) throw new KeepAliveEndedError(leaseId);
        const r = next.value;
        if (r.TTL <= 0n) throw new KeepAliveEndedError(leaseId);
        if (ctx.globals(cmd).output === 'json') ctx.print(cmd, { id: hex(leaseId), ttl: Number(r.TTL) }, [], []);
        else ctx.out(`lease ${hex(leaseId)} keepalived with TTL(${r.TTL})\n`);
        if (once) return;
        await new Promise((resolve) => setTimeout(resolve, Math.max(500, (Number(r.TTL) * 1000) / 3)));
      }
    } finally {
      call.cancel('kvctl keep-alive ended');
    }
  });
}

/** The lease expired or was revoked while being kept alive (etcdctl: "lease … expired or revoked."). */
export class KeepAliveEndedError extends Error {
  constructor(readonly leaseId: bigint) {
    super(`lease ${hex(leaseId)} expired or revoked`);
    this.name = 'KeepAliveEndedError';
  }
}
