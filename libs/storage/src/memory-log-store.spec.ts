import { describeLogStoreConformance } from './log-store.conformance';
import { MemoryLogStore } from './memory-log-store';

describeLogStoreConformance('MemoryLogStore', async () => ({
  durable: false,
  open: async () => new MemoryLogStore(),
  cleanup: async () => undefined,
}));
