/**
 * Regressions for behaviour the chaos tests (test/chaos, docs/chaos.md) found in the core.
 * Open ones are `it.failing`: they pass while the bug is there and start failing (so the
 * marker must go) once it is fixed.
 */
import { LeaderTransferInProgressError } from './errors';
import { bytes } from './testing/test-cluster';
import { I, T, appendResponse, drain, id, steadyLeader, tickN } from './testing/paper-helpers';

describe('chaos regressions', () => {
  // FIXED (raft-leader.ts sendTimeoutNow restarts the transfer's clock). Was (chaos `--faults transfer`, e.g. seed 12: "move leader n1 -> n2" took 6 s): a
  // leader aborts a transfer one election timeout after it STARTED, even when it sent
  // TimeoutNow just before. It then takes proposals again while the target is already
  // campaigning with the log it had when TimeoutNow left; the target's vote (transfer=true,
  // so it also forces the leader down) is refused by the old leader and by every follower that
  // got the new entries. No leader until the next election timeout, and the transfer fails.
  // In the chaos run: n2 became candidate (term 16), n1 and n3 moved to term 16 without
  // granting, n3 won term 17 1.7 s later. Fix idea: once TimeoutNow is sent, keep refusing
  // proposals until the transfer ends or a full election timeout has passed since the send.
  it('a leader that sent TimeoutNow keeps refusing proposals, so the transferee can win', () => {
    const { node, storage } = steadyLeader();
    node.propose(bytes('x')); // index 2: member 2 lacks it, so the transfer waits for it
    drain(node, storage);
    node.transferLeadership(id(2));
    drain(node, storage);
    tickN(node, 9); // the election timeout is 10 ticks: the catch-up comes late in the window
    drain(node, storage);
    node.step(appendResponse(2, 1, 1, 2));
    expect(drain(node, storage).map((m) => m.type)).toContain('TimeoutNow');
    node.tick(); // one election timeout since the transfer started: today it is aborted here
    drain(node, storage);
    expect(() => node.propose(bytes('y'))).toThrow(LeaderTransferInProgressError);
    drain(node, storage);
    node.step({ type: 'Vote', from: id(2), to: id(1), term: T(2), lastLogIndex: I(2), lastLogTerm: T(1), transfer: true });
    const answers = drain(node, storage).filter((m) => m.type === 'VoteResponse');
    expect(answers).toEqual([expect.objectContaining({ to: id(2), term: T(2), reject: false })]);
  });
});
