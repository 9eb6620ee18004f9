/**
 * Restore is atomic across crashes: stopping after any step and reopening gives either the old
 * state or the snapshot's, never a mix; a corrupt snapshot never touches the live database.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SnapshotCorruptError, StateMachineFailedError } from '../errors';
import { dump } from '../testing/conformance-harness.test';
import { LogBuilder, b, removeDir, session, tempDir } from '../testing/log-builder.test';
import type { RestoreStep } from './rocks-state-machine';
import { RocksStateMachine } from './rocks-state-machine';

class SimulatedCrash extends Error {}

describe('RocksStateMachine restore', () => {
  let root: string;
  let snapshotFile: string;
  let newState: unknown;

  const state = async (sm: RocksStateMachine): Promise<unknown> => ({ data: await dump(sm), applied: sm.appliedIndex(), sessions: sm.sessions(), revision: sm.revision() });

  beforeEach(async () => {
    root = await tempDir('restore');
    const source = await RocksStateMachine.open({ dataDir: path.join(root, 'source') });
    const log = new LogBuilder();
    const entries = [];
    for (let i = 0; i < 500; i++) {
      entries.push(log.put(`new/${i}`, `v${i}`, {}, i % 50 === 0 ? session(`s${i}`, 1) : undefined));
    }
    await source.apply(entries);
    snapshotFile = (await source.createSnapshot()).path;
    newState = await state(source);
    await source.close();
  });
  afterEach(() => removeDir(root));

  async function oldMachine(hook?: (step: RestoreStep) => void): Promise<{ sm: RocksStateMachine; old: unknown; dataDir: string }> {
    const dataDir = path.join(root, 'target');
    const sm = await RocksStateMachine.open({ dataDir, ...(hook !== undefined && { afterRestoreStep: hook }) });
    const log = new LogBuilder();
    await sm.apply([log.put('old/a', '1', {}, session('old-client', 1)), log.put('old/b', '2'), log.del('old/a')]);
    return { sm, old: await state(sm), dataDir };
  }

  for (const [step, expected] of [
    ['built', 'old'],
    ['committed', 'new'],
    ['swapped', 'new'],
  ] as const) {
    it(`a crash right after the "${step}" step reopens with the ${expected} state, never a mix`, async () => {
      const { sm, old, dataDir } = await oldMachine((at) => {
        if (at === step) {
          throw new SimulatedCrash(`stopped after ${at}`);
        }
      });
      await expect(sm.restore(snapshotFile)).rejects.toBeInstanceOf(SimulatedCrash);
      await expect(sm.range({ key: b('x') })).rejects.toBeInstanceOf(StateMachineFailedError);
      await sm.close();
      const reopened = await RocksStateMachine.open({ dataDir });
      expect(await state(reopened)).toEqual(expected === 'old' ? old : newState);
      const dbDirs = (await fs.readdir(dataDir)).filter((name) => name.startsWith('db-'));
      expect(dbDirs).toHaveLength(1);
      await reopened.close();
    });
  }

  it('removes a partial database left by a crash in the middle of building one', async () => {
    const { sm, old, dataDir } = await oldMachine();
    await sm.close();
    const partial = path.join(dataDir, 'db-2');
    await fs.mkdir(partial);
    await fs.writeFile(path.join(partial, 'CURRENT'), 'half-written');
    const reopened = await RocksStateMachine.open({ dataDir });
    expect(await state(reopened)).toEqual(old);
    expect(await fs.readdir(dataDir)).not.toContain('db-2');
    await reopened.close();
  });

  it('rejects a corrupt, truncated or missing snapshot without touching the live database, and stays usable', async () => {
    const { sm, old, dataDir } = await oldMachine();
    const bytes = await fs.readFile(snapshotFile);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    const corrupt = path.join(root, 'corrupt.snap');
    await fs.writeFile(corrupt, bytes);
    await expect(sm.restore(corrupt)).rejects.toBeInstanceOf(SnapshotCorruptError);
    expect(await state(sm)).toEqual(old);
    expect((await fs.readdir(dataDir)).filter((name) => name.startsWith('db-'))).toEqual(['db-1']);
    await fs.writeFile(corrupt, bytes.subarray(0, 1000));
    await expect(sm.restore(corrupt)).rejects.toBeInstanceOf(SnapshotCorruptError);
    await expect(sm.restore(path.join(root, 'missing.snap'))).rejects.toThrow(/ENOENT/);
    const log = new LogBuilder(sm.appliedIndex() + 1);
    await sm.apply([log.put('still', 'works')]);
    await sm.restore(snapshotFile);
    expect(await state(sm)).toEqual(newState);
    await sm.close();
  });

  it('serves reads during a restore and after it, from the right state', async () => {
    const { sm } = await oldMachine();
    const restoring = sm.restore(snapshotFile);
    const during = await sm.range({ key: b('old/b') });
    await restoring;
    expect(during.count).toBe(1);
    expect((await sm.range({ key: b('old/b') })).count).toBe(0);
    expect((await sm.range({ key: b('new/7') })).count).toBe(1);
    await sm.close();
  });
});
