/**
 * Snapshot commands: take (on the leader, or every member), save (a consistent backup over
 * the network into a local file, every chunk and the whole file checked with CRC-32C) and
 * restore (offline: a new member data dir from a backup, for a new cluster).
 *
 *     save:    Admin.SnapshotSave ─▶ header (index, term, size, crc, members)
 *                                 ─▶ chunks (offset, data, crc) ─▶ <file>.part ─ fsync ─▶ rename <file>
 *     restore: <file> ─▶ @keyval/cluster restoreMember ─▶ <data-dir> (run once per new member)
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { crc32c } from '@node-rs/crc32';
import type { admin } from '@keyval/proto';
import type { KeyvalClient } from '../client/keyval-client';
import { normalizeEndpoint } from '../client/endpoints';
import type { CliContext } from '../cli/cli-context';
import { parseDurationMs } from '../cli/cli-context';
import { CommandFailedError, UsageError } from '../cli/cli-errors';
import { ProgressBar, hexId, humanBytes } from '../output/format';
import { listMembers } from './cluster-status';
import { resolveMember } from './cluster-commands';

/** The client endpoints of the leader (or of `which`), then the others, then the given endpoints. */
async function endpointsFor(client: KeyvalClient, which: string | undefined): Promise<{ endpoints: string[]; member: admin.Member | undefined }> {
  const list = await listMembers(client, true);
  const chosen = which === undefined ? list.members.find((m) => m.id === list.leaderId) : resolveMember(list.members, which);
  const url = chosen?.clientUrls[0];
  if (which !== undefined && url === undefined) throw new CommandFailedError(`member ${which} has not published a client URL (is it running?)`);
  const endpoints = url === undefined ? [...client.endpoints] : [normalizeEndpoint(url), ...(which === undefined ? client.endpoints : [])];
  return { endpoints: [...new Set(endpoints)], member: chosen };
}

export function registerSnapshotCommands(program: Command, ctx: CliContext): void {
  const snapshot = program.command('snapshot').description('take, save (back up) and restore snapshots');
  snapshot
    .command('take')
    .description('take a snapshot now and compact the log behind it (on the leader, a given member, or every member)')
    .option('--member <member>', 'the member to take it on (name or hex id)')
    .option('--all', 'take one on every member')
    .action(async (o: { member?: string; all?: boolean }, cmd: Command) => {
      const client = ctx.client(cmd);
      const list = await listMembers(client, true);
      const targets = o.all === true ? list.members : [(await endpointsFor(client, o.member)).member ?? list.members[0]].filter((m): m is admin.Member => m !== undefined);
      const results = await Promise.all(
        targets.map(async (m) => {
          const url = m.clientUrls[0];
          if (url === undefined) throw new CommandFailedError(`member ${m.name || hexId(m.id)} has not published a client URL (is it running?)`);
          const r = await client.admin(normalizeEndpoint(url)).snapshotTake({}, { timeoutMs: client.options.timeoutMs });
          return { member: m.name, id: hexId(m.id), index: Number(r.meta?.index ?? 0), term: Number(r.meta?.term ?? 0), sizeBytes: Number(r.sizeBytes) };
        }),
      );
      ctx.print(cmd, results, ['MEMBER', 'INDEX', 'TERM', 'SIZE'], results.map((r) => [r.member, String(r.index), String(r.term), humanBytes(r.sizeBytes)]));
    });

  snapshot
    .command('save')
    .description('save a consistent backup of the cluster’s state into <file> (from the leader unless --member)')
    .argument('<file>')
    .option('--member <member>', 'the member to download from (name or hex id)')
    .option('--deadline <duration>', 'give up after this long (e.g. 10m)', '30m')
    .action(async (file: string, o: { member?: string; deadline: string }, cmd: Command) => {
      const deadlineMs = parseDurationMs(o.deadline, '--deadline');
      await checkTargetDirectory(file);
      const client = ctx.client(cmd);
      const { endpoints } = await endpointsFor(client, o.member);
      const saved = await saveFrom(client, endpoints, file, deadlineMs);
      ctx.print(
        cmd,
        { file, ...saved },
        ['FILE', 'INDEX', 'TERM', 'SIZE', 'FROM', 'MEMBERS'],
        [[file, String(saved.index), String(saved.term), humanBytes(saved.sizeBytes), saved.from, saved.members.map((m) => m.name || m.id).join(',')]],
      );
    });

  registerRestore(snapshot, ctx);
}

interface Saved {
  index: number;
  term: number;
  sizeBytes: number;
  crc32c: number;
  from: string;
  members: { id: string; name: string; peerUrls: string[] }[];
}

/** Downloads from the first endpoint that answers; the file appears only once complete and verified. */
async function saveFrom(client: KeyvalClient, endpoints: readonly string[], file: string, deadlineMs: number): Promise<Saved> {
  let lastError: unknown;
  for (const endpoint of endpoints) {
    try {
      return await download(client, endpoint, file, deadlineMs);
    } catch (error) {
      lastError = error;
      if (error instanceof CommandFailedError) throw error;
    }
  }
  throw lastError;
}

/** Fails in one line when `file`'s directory is missing or not a directory (before any download). */
async function checkTargetDirectory(file: string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  let isDirectory: boolean;
  try {
    isDirectory = (await fs.stat(dir)).isDirectory();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new CommandFailedError(code === 'ENOENT' ? `cannot save to ${file}: the directory ${dir} does not exist` : code === 'ENOTDIR' ? `cannot save to ${file}: ${dir} is not a directory` : `cannot save to ${file}: ${message}`);
  }
  if (!isDirectory) {
    throw new CommandFailedError(`cannot save to ${file}: ${dir} is not a directory`);
  }
}

/**
 * Opens `<file>.part` for writing, or fails in one line naming the problem rather than with a
 * raw error about the temporary file.
 */
async function openPart(file: string): Promise<{ part: string; handle: fs.FileHandle }> {
  await checkTargetDirectory(file);
  const dir = path.dirname(path.resolve(file));
  const part = `${file}.part`;
  try {
    return { part, handle: await fs.open(part, 'w') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' ? `no permission to write in ${dir}` : code === 'EISDIR' ? `${part} is a directory` : (error as Error).message;
    throw new CommandFailedError(`cannot save to ${file}: ${why}`);
  }
}

async function download(client: KeyvalClient, endpoint: string, file: string, deadlineMs: number): Promise<Saved> {
  const { part, handle } = await openPart(file);
  let header: admin.SnapshotSaveHeader | undefined;
  let written = 0;
  let crc = 0;
  let progress: ProgressBar | undefined;
  try {
    for await (const message of client.admin(endpoint).snapshotSave({}, { timeoutMs: deadlineMs })) {
      const p = message.part;
      if (p?.$case === 'header') {
        if (header !== undefined) throw new CommandFailedError(`${endpoint} sent a second snapshot header`);
        header = p.value;
        progress = new ProgressBar('saving snapshot', Number(header.totalBytes), humanBytes);
      } else if (p?.$case === 'chunk') {
        if (header === undefined) throw new CommandFailedError(`${endpoint} sent data before the snapshot header`);
        const { offset, data } = p.value;
        if (Number(offset) !== written) throw new CommandFailedError(`chunk at offset ${offset}, expected ${written}`);
        if (crc32c(data) !== p.value.crc32c) throw new CommandFailedError(`the chunk at offset ${offset} fails its checksum`);
        await handle.write(data);
        crc = crc32c(data, crc);
        written += data.byteLength;
        progress?.update(written);
      }
    }
    if (header === undefined) throw new CommandFailedError(`${endpoint} ended the snapshot stream without a header`);
    if (written !== Number(header.totalBytes) || crc !== header.crc32c) {
      throw new CommandFailedError(`received ${written} of ${header.totalBytes} bytes, checksum ${crc === header.crc32c ? 'ok' : 'mismatch'}`);
    }
    progress?.finish(written);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(part, { force: true });
    throw error;
  }
  await handle.close();
  await fs.rename(part, file);
  const dir = await fs.open(path.dirname(path.resolve(file)), 'r');
  await dir.sync().finally(() => dir.close());
  return {
    index: Number(header.meta?.index ?? 0),
    term: Number(header.meta?.term ?? 0),
    sizeBytes: written,
    crc32c: crc,
    from: endpoint,
    members: header.members.map((m) => ({ id: hexId(m.id), name: m.name, peerUrls: m.peerUrls })),
  };
}

/** Parses --initial-cluster (name=url,...; a name may repeat for several URLs). */
export function parseInitialCluster(text: string): { name: string; peerUrls: string[] }[] {
  const byName = new Map<string, string[]>();
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--initial-cluster: ${JSON.stringify(part)} is not name=url`);
    const url = part.slice(eq + 1);
    if (!/^http:\/\/[^/]+:\d+\/?$/.test(url)) throw new UsageError(`--initial-cluster: ${JSON.stringify(url)} is not http://host:port`);
    byName.set(part.slice(0, eq), [...(byName.get(part.slice(0, eq)) ?? []), url]);
  }
  if (byName.size === 0) throw new UsageError('--initial-cluster names no member');
  return [...byName].map(([name, peerUrls]) => ({ name, peerUrls }));
}

function registerRestore(snapshot: Command, ctx: CliContext): void {
  snapshot
    .command('restore')
    .description('offline: create a new member data dir from a backup (run once per member of the new cluster, with the same --initial-cluster)')
    .argument('<file>')
    .requiredOption('--data-dir <path>', 'the new member’s data dir (must not exist, or be empty)')
    .requiredOption('--name <name>', 'the new member’s name (one of --initial-cluster)')
    .requiredOption('--initial-cluster <members>', 'the new cluster: name=peer-url,...')
    .option('--initial-cluster-token <token>', 'the new cluster’s token', 'keyval-cluster')
    .action(async (file: string, o: { dataDir: string; name: string; initialCluster: string; initialClusterToken: string }, cmd: Command) => {
      const initialCluster = parseInitialCluster(o.initialCluster);
      // Loaded only here: it brings RocksDB and the storage engine, which no other command needs.
      const { RestoreError, restoreMember } = await import('@keyval/cluster');
      let result;
      try {
        result = await restoreMember({ snapshotFile: file, dataDir: o.dataDir, name: o.name, initialCluster, initialClusterToken: o.initialClusterToken });
      } catch (error) {
        if (error instanceof RestoreError) throw new CommandFailedError(error.message);
        throw error;
      }
      const self = initialCluster.find((m) => m.name === o.name);
      const flags = [`--name=${o.name}`, `--data-dir=${o.dataDir}`, `--initial-advertise-peer-urls=${self?.peerUrls.join(',') ?? ''}`, `--listen-peer-urls=${self?.peerUrls[0] ?? ''}`, `--initial-cluster=${o.initialCluster}`];
      const summary = { dataDir: o.dataDir, memberId: hexId(result.memberId), clusterId: hexId(result.clusterId), index: result.meta.index, term: result.meta.term, revision: result.revision, flags };
      if (ctx.globals(cmd).output === 'json') {
        ctx.print(cmd, summary, [], []);
        return;
      }
      ctx.out(
        `Restored ${file} (index ${result.meta.index}, revision ${result.revision}) into ${o.dataDir}: member ${o.name} (id ${summary.memberId}) of the new cluster ${summary.clusterId}.\n` +
          `Start it (and the other restored members) with:\n\n  keyval ${flags.join(' \\\n    ')}\n`,
      );
    });
}
