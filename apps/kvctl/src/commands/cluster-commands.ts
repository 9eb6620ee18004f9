/**
 * Cluster commands: status, member list|add|promote|remove, leader transfer. Changes are sent
 * to any endpoint (members forward them to the leader); a refused change exits 1 with the
 * cluster's reason.
 */
import type { Command } from 'commander';
import type { admin } from '@keyval/proto';
import type { KeyvalClient } from '../client/keyval-client';
import type { CliContext } from '../cli/cli-context';
import { CommandFailedError, UsageError } from '../cli/cli-errors';
import { hexId } from '../output/format';
import { gatherStatus, listMembers, statusFailure, statusTable } from './cluster-status';
import { registerScaleDown } from './scale-down';

/** The member named `text`, or with hex id `text` (0x optional). */
export function resolveMember(members: readonly admin.Member[], text: string): admin.Member {
  const byName = members.filter((m) => m.name === text);
  if (byName.length === 1) return byName[0] as admin.Member;
  const hex = text.replace(/^0x/i, '').toLowerCase();
  const byId = /^[0-9a-f]{1,16}$/.test(hex) ? members.find((m) => m.id === BigInt(`0x${hex}`)) : undefined;
  if (byId !== undefined) return byId;
  const known = members.map((m) => `${m.name || '(unnamed)'} ${hexId(m.id)}`).join(', ');
  throw new CommandFailedError(`no member is named ${JSON.stringify(text)} or has that id (members: ${known})`);
}

function memberJson(m: admin.Member, leaderId?: bigint): Record<string, unknown> {
  return { id: hexId(m.id), name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.isLearner, ...(leaderId === undefined ? {} : { isLeader: m.id === leaderId }) };
}

/** etcd-style --initial-cluster for a new member: every named member's peer URLs, and its own. */
export function initialClusterFor(members: readonly admin.Member[], added: admin.Member, name: string): string {
  const parts: string[] = [];
  for (const m of members) {
    const n = m.id === added.id ? name : m.name;
    if (n.length === 0) continue; // added but never started: it has no name yet
    for (const url of m.peerUrls) parts.push(`${n}=${url}`);
  }
  return parts.join(',');
}

async function change<T>(client: KeyvalClient, fn: (endpoint: string, timeoutMs: number) => Promise<T>): Promise<T> {
  return client.call('change', fn);
}

export function registerClusterCommands(program: Command, ctx: CliContext): void {
  registerStatus(program, ctx);
  const member = program.command('member').description('list, add, promote and remove members');
  registerMemberList(member, ctx);
  registerMemberAdd(member, ctx);
  registerMemberChanges(member, ctx);
  registerMemberUpdate(member, ctx);
  registerScaleDown(member, ctx);
  registerLeaderTransfer(program, ctx);
}

function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('every member: role, term, commit and applied index, lag behind the leader, disk use and health (the leader is marked *); exits 1 when a member is unreachable or unhealthy, or there is no leader')
    .action(async (_o: unknown, cmd: Command) => {
      const rows = await gatherStatus(ctx.client(cmd));
      const table = statusTable(rows);
      ctx.print(cmd, rows, table.header, table.rows);
      const failure = statusFailure(rows);
      if (failure !== undefined) {
        throw new CommandFailedError(failure);
      }
    });
}

function registerMemberList(member: Command, ctx: CliContext): void {
  member
    .command('list')
    .description('the members, voters and learners, with their URLs')
    .option('--serializable', 'answer from the member asked, without confirming with the leader')
    .action(async (o: { serializable?: boolean }, cmd: Command) => {
      const list = await listMembers(ctx.client(cmd), o.serializable === true);
      const rows = list.members.map((m) => [
        `${m.name || '(unnamed)'}${m.id === list.leaderId ? ' *' : ''}`,
        hexId(m.id),
        m.isLearner ? 'learner' : 'voter',
        m.clientUrls.length > 0 ? 'started' : 'unstarted',
        m.peerUrls.join(','),
        m.clientUrls.join(','),
      ]);
      ctx.print(cmd, { leader: hexId(list.leaderId), members: list.members.map((m) => memberJson(m, list.leaderId)) }, ['NAME', 'ID', 'ROLE', 'STATUS', 'PEER URLS', 'CLIENT URLS'], rows);
    });
}

function registerMemberAdd(member: Command, ctx: CliContext): void {
  member
    .command('add')
    .description('register a new member (a learner unless --voter) and print the flags to start it with')
    .argument('<name>')
    .requiredOption('--peer-urls <urls>', 'comma-separated peer URLs of the new member (http://host:port)')
    .option('--voter', 'add it as a voter straight away (refused when that would cost the live quorum)')
    .option('--force', 'skip the safety checks')
    .action(async (name: string, o: { peerUrls: string; voter?: boolean; force?: boolean }, cmd: Command) => {
      if (!/^[A-Za-z0-9._-]{1,63}$/.test(name)) throw new UsageError(`member name ${JSON.stringify(name)} must be 1-63 letters, digits, dots, dashes or underscores`);
      const peerUrls = o.peerUrls.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
      const client = ctx.client(cmd);
      const response = await change(client, (endpoint, timeoutMs) => client.admin(endpoint).memberAdd({ name, peerUrls, voter: o.voter === true, force: o.force === true }, { timeoutMs }));
      const added = response.member as admin.Member;
      const initialCluster = initialClusterFor(response.members, added, name);
      const flags = [`--name=${name}`, `--initial-advertise-peer-urls=${peerUrls.join(',')}`, `--listen-peer-urls=${peerUrls[0] ?? ''}`, `--initial-cluster=${initialCluster}`, '--initial-cluster-state=existing'];
      const clusterId = hexId(response.header?.clusterId ?? 0n);
      if (ctx.globals(cmd).output === 'json') {
        ctx.print(cmd, { member: memberJson(added), clusterId, initialCluster, flags }, [], []);
        return;
      }
      ctx.out(
        `Added member ${name} (id ${hexId(added.id)}) to cluster ${clusterId} as a ${added.isLearner ? 'learner' : 'voter'}.\n` +
          `Start it with an empty data dir and these flags (plus its own --data-dir, --listen-client-urls and --advertise-client-urls):\n\n` +
          `  keyval ${flags.join(' \\\n    ')}\n\n` +
          (added.isLearner ? 'It is promoted to voter once it has caught up (or run: kvctl member promote ' + name + ').\n' : ''),
      );
    });
}

function registerMemberChanges(member: Command, ctx: CliContext): void {
  for (const verb of ['promote', 'remove'] as const) {
    member
      .command(verb)
      .description(verb === 'promote' ? 'make a caught-up learner a voter' : 'remove a member (the leader too: leadership moves first)')
      .argument('<member>', 'member name or hex id')
      .option('--force', verb === 'promote' ? 'promote even when the learner is behind' : 'remove even when the cluster would be left without a live quorum')
      .action(async (which: string, o: { force?: boolean }, cmd: Command) => {
        const client = ctx.client(cmd);
        const target = resolveMember((await listMembers(client, true)).members, which);
        const request = { id: target.id, force: o.force === true };
        const response =
          verb === 'promote'
            ? await change(client, (endpoint, timeoutMs) => client.admin(endpoint).memberPromote(request, { timeoutMs }))
            : await change(client, (endpoint, timeoutMs) => client.admin(endpoint).memberRemove(request, { timeoutMs }));
        const what = verb === 'promote' ? 'Promoted' : 'Removed';
        ctx.print(cmd, { [verb === 'promote' ? 'promoted' : 'removed']: memberJson(target), members: response.members.map((m) => memberJson(m)) }, [what, 'ID'], [[target.name || '(unnamed)', hexId(target.id)]]);
      });
  }
}

function registerMemberUpdate(member: Command, ctx: CliContext): void {
  member
    .command('update')
    .description('change a member\'s peer URLs, keeping its id (then restart it listening on the new URL)')
    .argument('<member>', 'member name or hex id')
    .requiredOption('--peer-urls <urls>', 'comma-separated new peer URLs of the member (http://host:port)')
    .action(async (which: string, o: { peerUrls: string }, cmd: Command) => {
      const peerUrls = o.peerUrls.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
      if (peerUrls.length === 0) throw new UsageError('--peer-urls: give at least one URL');
      const client = ctx.client(cmd);
      const target = resolveMember((await listMembers(client, true)).members, which);
      const response = await change(client, (endpoint, timeoutMs) => client.admin(endpoint).memberUpdate({ id: target.id, peerUrls }, { timeoutMs }));
      const updated = response.members.find((m) => m.id === target.id);
      ctx.print(cmd, { updated: memberJson(updated ?? target), members: response.members.map((m) => memberJson(m)) }, ['UPDATED', 'ID', 'PEER URLS'], [[target.name || '(unnamed)', hexId(target.id), (updated?.peerUrls ?? peerUrls).join(',')]]);
    });
}

function registerLeaderTransfer(program: Command, ctx: CliContext): void {
  program
    .command('leader')
    .description('leadership')
    .command('transfer')
    .description('hand leadership to a voter (by name or hex id; by default the most caught-up one) and wait until it leads')
    .argument('[member]', 'member name or hex id')
    .action(async (which: string | undefined, _o: unknown, cmd: Command) => {
      const client = ctx.client(cmd);
      const members = (await listMembers(client, true)).members;
      const targetId = which === undefined ? 0n : resolveMember(members, which).id;
      const response = await change(client, (endpoint, timeoutMs) => client.admin(endpoint).transferLeadership({ targetId }, { timeoutMs }));
      const leader = members.find((m) => m.id === response.leaderId);
      ctx.print(cmd, { leader: leader === undefined ? { id: hexId(response.leaderId) } : memberJson(leader) }, ['LEADER', 'ID'], [[leader?.name ?? '?', hexId(response.leaderId)]]);
    });
}
