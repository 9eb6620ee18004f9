import { describeStateMachineConformance } from '../state-machine-conformance.test';
import { Resources } from '../testing/conformance-harness.test';
import { MemoryStateMachine } from './memory-state-machine';

const resources = new Resources();

describeStateMachineConformance({
  name: 'MemoryStateMachine',
  async create(limits) {
    return resources.track(await MemoryStateMachine.create({ snapshotDir: await resources.dir('mem'), ...(limits !== undefined && { limits }) }));
  },
  cleanup: () => resources.cleanup(),
});
