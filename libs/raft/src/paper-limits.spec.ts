/**
 * Limits on everything (STYLE.md): entry size, message bytes, in-flight window, uncommitted bytes.
 */
import { ProposalDroppedError, ProposalTooLargeError } from './errors';
import type { AppendRequest } from './messages';
import { ProgressState } from './progress';
import { appendResponse, drain, handle, id, steadyLeader } from './testing/paper-helpers';

describe('limits', () => {
  it('drops a proposal over the entry limit with a named error, appending nothing', () => {
    const { node } = steadyLeader({ config: { maxEntryBytes: 100 } });
    expect(() => node.propose(new Uint8Array(101))).toThrow(ProposalTooLargeError);
    expect(() => node.propose(new Uint8Array(101))).toThrow(/101 bytes exceeds the entry limit of 100 bytes/);
    expect(node.status().lastIndex).toBe(1);
    expect(() => node.proposeBatch([new Uint8Array(10), new Uint8Array(101)])).toThrow(ProposalTooLargeError);
    expect(node.status().lastIndex).toBe(1);
  });

  it('drops proposals once uncommitted bytes pass the limit, and accepts again after commit', () => {
    const { node, storage } = steadyLeader({ config: { maxUncommittedBytes: 1000 } });
    node.propose(new Uint8Array(600));
    expect(() => node.propose(new Uint8Array(600))).toThrow(ProposalDroppedError);
    expect(() => node.propose(new Uint8Array(600))).toThrow(/too many uncommitted bytes/);
    drain(node, storage);
    node.step(appendResponse(2, 1, 1, 2));
    drain(node, storage);
    expect(() => node.propose(new Uint8Array(600))).not.toThrow();
  });

  it('fills Append messages up to the message byte limit', () => {
    const { node, storage } = steadyLeader({ config: { maxMessageBytes: 250 } });
    node.proposeBatch(Array.from({ length: 10 }, () => new Uint8Array(100)));
    const appends = handle(node, storage)!.earlyMessages.filter((m) => m.type === 'Append' && m.to === id(2)) as AppendRequest[];
    // 100 bytes + 24 of overhead each: two entries per message.
    expect(appends.map((a) => a.entries.length)).toEqual([2, 2, 2, 2, 2]);
  });

  it('stops sending to a follower whose in-flight window is full, resuming as it acknowledges', () => {
    const { node, storage } = steadyLeader({ config: { maxMessageBytes: 200, maxInflightMessages: 2 } });
    node.proposeBatch(Array.from({ length: 8 }, () => new Uint8Array(100)));
    const toTwo = () => drain(node, storage).filter((m) => m.type === 'Append' && m.to === id(2)) as AppendRequest[];
    const first = toTwo();
    expect(first).toHaveLength(2);
    expect(node.status().progress!.get(id(2))!.state).toBe(ProgressState.Replicate);
    const acked = first[0]!.entries[first[0]!.entries.length - 1]!.index;
    node.step(appendResponse(2, 1, 1, acked));
    expect(toTwo()).toHaveLength(1);
  });
});
