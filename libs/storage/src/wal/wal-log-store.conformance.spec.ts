import { describeLogStoreConformance } from '../log-store.conformance';
import { makeTempDir, removeDir } from '../testing/log-fixtures';
import { WalLogStore } from './wal-log-store';
import type { WalLogStoreOptions } from './wal-options';

// Real fsyncs on a disk shared with other work can take tens of milliseconds each.
jest.setTimeout(60_000);

function walHarness(options: WalLogStoreOptions) {
  return async () => {
    const dir = await makeTempDir('wal-conformance');
    return {
      durable: true,
      open: () => WalLogStore.open(dir, options),
      cleanup: () => removeDir(dir),
    };
  };
}

// Default sizes: everything in one segment, reads served from the cache.
describeLogStoreConformance('WalLogStore', walHarness({}));
// Tiny segments and no cache: segment rolls and deletions, every read from disk.
describeLogStoreConformance('WalLogStore (4 KiB segments, no cache)', walHarness({ segmentBytes: 4096, cacheBytesMax: 0 }));
