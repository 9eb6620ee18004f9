import type { StateMachineLimits } from '../limits';
import type { StateMachine } from '../state-machine';
import { describeStateMachineConformance } from '../state-machine-conformance.test';
import { Resources } from '../testing/conformance-harness.test';
import { RocksStateMachine } from './rocks-state-machine';

const resources = new Resources();
const opened = new Map<StateMachine, { dataDir: string; limits: Partial<StateMachineLimits> | undefined }>();

describeStateMachineConformance({
  name: 'RocksStateMachine',
  async create(limits) {
    const dataDir = await resources.dir('rocks');
    const machine = resources.track(await RocksStateMachine.open({ dataDir, ...(limits !== undefined && { limits }) }));
    opened.set(machine, { dataDir, limits });
    return machine;
  },
  async reopen(machine) {
    const where = opened.get(machine);
    if (where === undefined) {
      throw new Error('not a machine of this factory');
    }
    await machine.close();
    const reopened = resources.track(await RocksStateMachine.open({ dataDir: where.dataDir, ...(where.limits !== undefined && { limits: where.limits }) }));
    opened.set(reopened, where);
    return reopened;
  },
  cleanup: () => resources.cleanup(),
});
