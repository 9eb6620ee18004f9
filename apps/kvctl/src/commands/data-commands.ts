/**
 * Data commands: get (a key, a range, a prefix), put, del and txn. Writes are exactly-once
 * (see KeyvalClient); reads are linearizable unless --serializable.
 */
import type { Command } from 'commander';
import { etcd } from '@keyval/proto';
import type { mvcc } from '@keyval/proto';
import type { CliContext } from '../cli/cli-context';
import { parseIntFlag } from '../cli/cli-context';
import { UsageError } from '../cli/cli-errors';
import { parseLeaseId } from './lease-commands';
import { TxnSyntaxError, buildTxn, prefixEnd } from './txn-parser';

export const text = (b: Buffer): string => b.toString('utf8');

/** A key-value as kvctl's JSON output shows it. */
export function kvJson(kv: mvcc.KeyValue): Record<string, unknown> {
  return { key: text(kv.key), value: text(kv.value), createRevision: Number(kv.createRevision), modRevision: Number(kv.modRevision), version: Number(kv.version) };
}

/** The range end from [range_end], --prefix and --from-key (at most one of them). */
function rangeEnd(key: Buffer, end: string | undefined, o: { prefix?: boolean; fromKey?: boolean }): Buffer {
  const given = [end !== undefined, o.prefix === true, o.fromKey === true].filter(Boolean).length;
  if (given > 1) throw new UsageError('give at most one of [range_end], --prefix and --from-key');
  if (o.prefix === true) return prefixEnd(key);
  if (o.fromKey === true) return Buffer.from([0]);
  return end === undefined ? Buffer.alloc(0) : Buffer.from(end, 'utf8');
}

function nonEmptyKey(key: string): Buffer {
  if (key.length === 0) throw new UsageError('the key is empty');
  return Buffer.from(key, 'utf8');
}

/** Prints key-values: a table, etcdctl's plain lines, or JSON. */
function printKvs(ctx: CliContext, cmd: Command, kvs: readonly mvcc.KeyValue[], extra: Record<string, unknown>, valuesOnly = false): void {
  const g = ctx.globals(cmd);
  if (g.output === 'json') {
    ctx.print(cmd, { ...extra, kvs: kvs.map(kvJson) }, [], []);
  } else if (g.output === 'simple' || valuesOnly) {
    ctx.out(kvs.map((kv) => (valuesOnly ? `${text(kv.value)}\n` : `${text(kv.key)}\n${text(kv.value)}\n`)).join(''));
  } else {
    ctx.print(cmd, undefined, ['KEY', 'VALUE', 'VERSION', 'MOD-REVISION'], kvs.map((kv) => [text(kv.key), text(kv.value), String(kv.version), String(kv.modRevision)]));
  }
}

export function registerDataCommands(program: Command, ctx: CliContext): void {
  registerGet(program, ctx);
  registerPutDel(program, ctx);
  registerTxn(program, ctx);
}

function registerGet(program: Command, ctx: CliContext): void {
  program
    .command('get')
    .description('read a key, a range [key, range_end), or every key with a prefix')
    .argument('<key>')
    .argument('[range_end]')
    .option('--prefix', 'every key starting with <key>')
    .option('--from-key', 'every key from <key> on')
    .option('--limit <n>', 'return at most n keys')
    .option('--keys-only', 'keys without values')
    .option('--count-only', 'only the number of keys')
    .option('--print-value-only', 'print only the values, one per line')
    .option('--serializable', 'read this member’s applied state without asking the leader (may be stale)')
    .option('--rev <revision>', 'read the keys as they were at this revision')
    .action(async (key: string, end: string | undefined, o: Record<string, boolean | string | undefined>, cmd: Command) => {
      const k = nonEmptyKey(key);
      const request = etcd.RangeRequest.fromPartial({
        key: k,
        revision: BigInt(o['rev'] === undefined ? 0 : parseIntFlag(String(o['rev']), '--rev', 1, Number.MAX_SAFE_INTEGER)),
        rangeEnd: rangeEnd(k, end, o),
        limit: BigInt(o['limit'] === undefined ? 0 : parseIntFlag(String(o['limit']), '--limit', 1, 1_000_000_000)),
        keysOnly: o['keysOnly'] === true,
        countOnly: o['countOnly'] === true,
        serializable: o['serializable'] === true,
      });
      const response = await ctx.client(cmd).range(request);
      const extra = { revision: Number(response.header?.revision ?? 0), count: Number(response.count), more: response.more };
      if (o['countOnly'] === true) {
        ctx.print(cmd, extra, ['COUNT'], [[String(response.count)]]);
        return;
      }
      printKvs(ctx, cmd, response.kvs, extra, o['printValueOnly'] === true);
    });
}

function registerPutDel(program: Command, ctx: CliContext): void {
  program
    .command('put')
    .description('write a value (exactly once, however often it is retried)')
    .argument('<key>')
    .argument('<value>')
    .option('--prev-kv', 'print the previous value')
    .option('--lease <leaseID>', 'attach the key to this lease (hexadecimal, as `kvctl lease grant` prints it)')
    .action(async (key: string, value: string, o: { prevKv?: boolean; lease?: string }, cmd: Command) => {
      const lease = o.lease === undefined ? 0n : parseLeaseId(o.lease);
      const response = await ctx.client(cmd).put(etcd.PutRequest.fromPartial({ key: nonEmptyKey(key), value: Buffer.from(value, 'utf8'), prevKv: o.prevKv === true, lease }));
      const revision = Number(response.header?.revision ?? 0);
      const prev = response.prevKv === undefined ? undefined : kvJson(response.prevKv);
      if (ctx.globals(cmd).output === 'json') ctx.print(cmd, { revision, prevKv: prev }, [], []);
      else ctx.out(`OK${prev === undefined ? '' : `\n${String(prev['key'])}\n${String(prev['value'])}`}\n`);
    });

  program
    .command('del')
    .alias('delete')
    .description('delete a key, a range [key, range_end), or every key with a prefix')
    .argument('<key>')
    .argument('[range_end]')
    .option('--prefix', 'every key starting with <key>')
    .option('--from-key', 'every key from <key> on')
    .option('--prev-kv', 'print the deleted pairs')
    .action(async (key: string, end: string | undefined, o: { prefix?: boolean; fromKey?: boolean; prevKv?: boolean }, cmd: Command) => {
      const k = nonEmptyKey(key);
      const response = await ctx.client(cmd).deleteRange(etcd.DeleteRangeRequest.fromPartial({ key: k, rangeEnd: rangeEnd(k, end, o), prevKv: o.prevKv === true }));
      const deleted = Number(response.deleted);
      if (ctx.globals(cmd).output === 'json') ctx.print(cmd, { revision: Number(response.header?.revision ?? 0), deleted, prevKvs: response.prevKvs.map(kvJson) }, [], []);
      else ctx.out(`${deleted}\n${response.prevKvs.map((kv) => `${text(kv.key)}\n${text(kv.value)}\n`).join('')}`);
    });
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function registerTxn(program: Command, ctx: CliContext): void {
  program
    .command('txn')
    .description("a transaction: if every --if holds, run the --then operations, else the --else ones (e.g. --if 'k == v1' --then 'put k v2' --else 'get k')")
    .option('--if <compare>', "KEY OP VALUE or TARGET(KEY) OP N; OP is ==, !=, < or >; TARGET is value, version, create or mod (repeatable)", collect, [])
    .option('--then <operation>', "put KEY VALUE | get KEY [RANGE_END|--prefix] | del KEY [RANGE_END|--prefix] (repeatable)", collect, [])
    .option('--else <operation>', 'as --then, run when a compare fails (repeatable)', collect, [])
    .action(async (o: { if: string[]; then: string[]; else: string[] }, cmd: Command) => {
      let request: etcd.TxnRequest;
      try {
        request = buildTxn(o.if, o.then, o.else);
      } catch (error) {
        if (error instanceof TxnSyntaxError) throw new UsageError(`txn: ${error.message}`);
        throw error;
      }
      const response = await ctx.client(cmd).txn(request);
      if (ctx.globals(cmd).output === 'json') {
        ctx.print(cmd, { succeeded: response.succeeded, revision: Number(response.header?.revision ?? 0), responses: response.responses.map(responseJson) }, [], []);
        return;
      }
      ctx.out(`${response.succeeded ? 'SUCCESS' : 'FAILURE'}\n${response.responses.map(responseText).join('')}`);
    });
}

function responseJson(r: etcd.ResponseOp): Record<string, unknown> {
  const x = r.response;
  if (x?.$case === 'responsePut') return { put: { revision: Number(x.value.header?.revision ?? 0) } };
  if (x?.$case === 'responseRange') return { get: { count: Number(x.value.count), kvs: x.value.kvs.map(kvJson) } };
  if (x?.$case === 'responseDeleteRange') return { del: { deleted: Number(x.value.deleted) } };
  return { other: x?.$case ?? 'none' };
}

function responseText(r: etcd.ResponseOp): string {
  const x = r.response;
  if (x?.$case === 'responsePut') return '\nOK\n';
  if (x?.$case === 'responseRange') return `\n${x.value.kvs.map((kv) => `${text(kv.key)}\n${text(kv.value)}\n`).join('')}`;
  if (x?.$case === 'responseDeleteRange') return `\n${String(x.value.deleted)}\n`;
  return '\n';
}
