/**
 * Crash rounds: start the child on a data dir, SIGKILL it at a random moment, recover the WAL in
 * this process and check it (crash-model.ts), then start the next child on the same dir. About
 * one round in ten kills the child before it has finished recovering; about one in three makes
 * the child write in small pieces, so that kills tear writes in the middle.
 */
import { spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { LogIndex } from '@keyval/raft';
import { WalLogStore, verifyDataDir } from '@keyval/storage';
import type { StorageLogger } from '@keyval/storage';
import { CRASH_CONFIG, EMPTY_STATE, checkRecovered, crashPayload, describeState, lastIndex, parseOp } from './crash-model';
import type { CrashOp, LogState } from './crash-model';
import { SeededRandom } from './seeded-random';

const REGISTER = path.join(__dirname, 'ts-register.js');
const CHILD = path.join(__dirname, 'crash-child.ts');

/** What to run. */
export interface CrashRoundsOptions {
  readonly rounds: number;
  readonly seed: number;
  /** Small segments make rolls and deletions frequent. Default 64 KiB. */
  readonly segmentBytes?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Keep the data dir afterwards (its path is logged). */
  readonly keep?: boolean;
}

/** What the rounds did (all of it checked). */
export interface CrashRoundsSummary {
  readonly rounds: number;
  readonly writesIssued: number;
  readonly writesAcknowledged: number;
  readonly killedBeforeReady: number;
  readonly tornTailsCut: number;
  readonly lastIndex: number;
}

interface RoundOutput {
  readonly ops: CrashOp[];
  readonly ackedThrough: number;
  readonly readyLastIndex: number | undefined;
}

/** Runs the rounds; throws an Error naming the seed and round on the first failed check. */
export async function runCrashRounds(options: CrashRoundsOptions): Promise<CrashRoundsSummary> {
  const segmentBytes = options.segmentBytes ?? 64 * 1024;
  const random = new SeededRandom(options.seed);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'keyval-crash-'));
  const totals = { writesIssued: 0, writesAcknowledged: 0, killedBeforeReady: 0, tornTailsCut: 0 };
  let base: LogState = EMPTY_STATE;
  try {
    for (let round = 0; round < options.rounds; round++) {
      const where = `crash round ${round} (seed ${options.seed}, data dir ${dir})`;
      const killEarly = random.next() < 0.1;
      const delayMs = killEarly ? random.int(300) : 20 + random.int(400);
      const child: ChildPlan = { seed: random.int(2 ** 31), segmentBytes, chunked: random.next() < 0.35, killEarly, delayMs };
      const output = await runChild(dir, child, where);
      if (output.readyLastIndex !== undefined && output.readyLastIndex !== lastIndex(base)) {
        throw new Error(`${where}: the child recovered last index ${output.readyLastIndex}, this process ${lastIndex(base)}`);
      }
      const recovery = await recoverAndRead(dir, segmentBytes, where);
      const problem = checkRecovered(base, output.ops, output.ackedThrough, recovery.state);
      if (problem !== undefined) {
        throw new Error(`${where}: ${problem}`);
      }
      base = recovery.state;
      totals.writesIssued += output.ops.length;
      totals.writesAcknowledged += output.ackedThrough + 1;
      totals.killedBeforeReady += output.readyLastIndex === undefined ? 1 : 0;
      totals.tornTailsCut += recovery.tornTails;
      options.log?.(
        `round ${round}: ${output.ops.length} writes issued, ${output.ackedThrough + 1} acknowledged, ` +
          `${recovery.tornTails > 0 ? 'torn tail cut, ' : ''}recovered ${describeState(base)}`,
      );
    }
  } finally {
    if (options.keep === true) {
      options.log?.(`data dir kept: ${dir}`);
    } else {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }
  return { rounds: options.rounds, ...totals, lastIndex: lastIndex(base) };
}

interface ChildPlan {
  readonly seed: number;
  readonly segmentBytes: number;
  /** Write in small pieces (see crash-child.ts). */
  readonly chunked: boolean;
  /** Kill `delayMs` after spawning instead of after the child is ready. */
  readonly killEarly: boolean;
  readonly delayMs: number;
}

/** Starts the child, collects its lines, SIGKILLs it as planned. */
async function runChild(dir: string, plan: ChildPlan, where: string): Promise<RoundOutput> {
  const { killEarly, delayMs } = plan;
  const args = [dir, String(plan.seed), String(plan.segmentBytes), ...(plan.chunked ? ['chunked'] : [])];
  const child = spawn(process.execPath, ['-r', REGISTER, CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ops: CrashOp[] = [];
  let ackedThrough = -1;
  let readyLastIndex: number | undefined;
  let stderr = '';
  let protocolError: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const kill = () => child.kill('SIGKILL');
  if (killEarly) {
    timer = setTimeout(kill, delayMs);
  }
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const fields = line.split(' ');
    if (fields[0] === 'ready') {
      readyLastIndex = Number(fields[1]);
      timer ??= setTimeout(kill, delayMs);
    } else if (fields[0] === 'o' && Number(fields[1]) === ops.length) {
      ops.push(parseOp(fields.slice(2)));
    } else if (fields[0] === 'a' && Number(fields[1]) === ackedThrough + 1) {
      ackedThrough++;
    } else {
      protocolError ??= `unexpected line from the child: ${line}`;
    }
  });
  const closed = new Promise<void>((resolve) => lines.once('close', resolve));
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  await closed;
  if (exit.signal !== 'SIGKILL' || protocolError !== undefined) {
    throw new Error(`${where}: the child ended by itself (${protocolError ?? `code ${exit.code}, signal ${exit.signal}`}); its stderr:\n${stderr}`);
  }
  return { ops, ackedThrough, readyLastIndex };
}

/** Recovers the WAL here, reads the whole log back from disk and checks every entry's bytes. */
async function recoverAndRead(dir: string, segmentBytes: number, where: string): Promise<{ state: LogState; tornTails: number }> {
  let tornTails = 0;
  const logger: StorageLogger = {
    info: () => undefined,
    warn: (message) => {
      tornTails += message.includes('torn') ? 1 : 0;
    },
    error: () => undefined,
  };
  const store = await WalLogStore.open(dir, { segmentBytes, cacheBytesMax: 0, logger });
  try {
    const snapshot = store.snapshotMeta();
    if (snapshot.index > 0) {
      expectSame(snapshot.config, CRASH_CONFIG, `${where}: snapshot configuration`);
    }
    const entries = store.lastIndex() > snapshot.index ? store.entries((snapshot.index + 1) as LogIndex, (store.lastIndex() + 1) as LogIndex, Number.MAX_SAFE_INTEGER) : [];
    for (const entry of entries) {
      if (Buffer.compare(entry.data, crashPayload(entry.index, entry.term)) !== 0) {
        throw new Error(`${where}: entry ${entry.index} (term ${entry.term}) came back with different bytes`);
      }
    }
    const hs = store.hardState();
    const state = { snapshotIndex: snapshot.index, snapshotTerm: snapshot.term, hardTerm: hs.term, hardCommit: hs.commit, terms: entries.map((e) => e.term as number) };
    if (entries.length !== lastIndex(state) - snapshot.index) {
      throw new Error(`${where}: read ${entries.length} entries, expected ${lastIndex(state) - snapshot.index}`);
    }
    await store.close();
    const report = await verifyDataDir(dir);
    if (!report.ok || report.tornTail !== undefined) {
      throw new Error(`${where}: the data dir does not verify after recovery: ${JSON.stringify(report.corruption ?? report.tornTail ?? report.problems)}`);
    }
    return { state, tornTails };
  } finally {
    await store.close();
  }
}

function expectSame(actual: unknown, expected: unknown, what: string): void {
  const show = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  if (show(actual) !== show(expected)) {
    throw new Error(`${what}: ${show(actual)} instead of ${show(expected)}`);
  }
}
