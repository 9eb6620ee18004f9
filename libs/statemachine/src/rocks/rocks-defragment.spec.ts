import { LogBuilder, removeDir, tempDir } from '../testing/log-builder.test';
import { RocksStateMachine } from './rocks-state-machine';

describe('RocksStateMachine.defragment (etcd Defragment)', () => {
  let dir: string;
  afterEach(() => removeDir(dir));

  it('gives back the space of deleted and compacted data, changing no data and no hash', async () => {
    dir = await tempDir('defrag');
    const sm = await RocksStateMachine.open({ dataDir: dir });
    try {
      const log = new LogBuilder();
      const value = 'v'.repeat(2048);
      for (let batch = 0; batch < 10; batch++) {
        await sm.apply(Array.from({ length: 200 }, (_, i) => log.put(`k${String(batch * 200 + i).padStart(5, '0')}`, value)));
      }
      await sm.apply([log.put('zkept', 'yes'), log.del('k', 'l')]);
      await sm.apply([log.compact(sm.revision())]);
      await sm.compacted(sm.revision());
      const hash = await sm.hashStore();
      const hashKv = await sm.hashKv(0);
      const before = sm.storageBytes().inUse;
      expect(before).toBeGreaterThan(2_000 * 2048);
      await sm.defragment();
      const after = sm.storageBytes().inUse;
      expect(after).toBeLessThan(before / 10);
      expect(await sm.hashStore()).toEqual(hash);
      expect(await sm.hashKv(0)).toEqual(hashKv);
      expect((await sm.range({ key: Buffer.from('zkept') })).kvs.map((kv) => Buffer.from(kv.value).toString())).toEqual(['yes']);
      // Writes go on afterwards.
      await sm.apply([log.put('after', 'defrag')]);
      expect((await sm.range({ key: Buffer.from('after') })).count).toBe(1);
    } finally {
      await sm.close();
    }
  });
});
