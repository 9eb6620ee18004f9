/**
 * The conformance suite of the state-machine contract (STYLE.md: each storage contract has a
 * suite every implementation passes). Not run directly: each implementation's spec calls
 * `describeStateMachineConformance` with a factory.
 */
import type { StateMachineFactory } from './testing/conformance-harness.test';
import { describeChangesConformance } from './testing/conformance-changes.test';
import { describeHashConformance } from './testing/conformance-hash.test';
import { describeHistoryConformance } from './testing/conformance-history.test';
import { describeKvConformance } from './testing/conformance-kv.test';
import { describeLeaseConformance } from './testing/conformance-leases.test';
import { describeSessionConformance } from './testing/conformance-sessions.test';
import { describeSnapshotConformance } from './testing/conformance-snapshots.test';
import { describeTxnConformance } from './testing/conformance-txn.test';

export type { StateMachineFactory } from './testing/conformance-harness.test';

export function describeStateMachineConformance(factory: StateMachineFactory): void {
  describe(`${factory.name}: state-machine contract`, () => {
    describeKvConformance(factory);
    describeTxnConformance(factory);
    describeHistoryConformance(factory);
    describeChangesConformance(factory);
    describeLeaseConformance(factory);
    describeSessionConformance(factory);
    describeSnapshotConformance(factory);
    describeHashConformance(factory);
  });
}
