/**
 * The gateway keeps its own copy of the wire protocol it shares with the members (so it does
 * not load Raft and RocksDB): metadata keys of the exactly-once sessions, the leader hint
 * trailer and etcd's error texts. This checks the copy against the members' definitions in
 * @keyval/api, and that the texts the gateway retries on are the ones members answer.
 */
import { CLIENT_ID_KEY, ETCD_MESSAGES, FORWARDED_KEY, LEADER_HINT_TRAILER, SEQUENCE_KEY, toStatusError } from '@keyval/api';
import { ProposalLostError } from '@keyval/cluster';
import { NotLeaderError, nodeId } from '@keyval/raft';
import { SessionExpiredError, StaleSequenceError } from '@keyval/statemachine';
import * as gateway from '@keyval/gateway-core';

describe('the gateway\'s copy of the member wire protocol', () => {
  it('uses the same metadata keys and leader hint trailer', () => {
    expect(gateway.CLIENT_ID_KEY).toBe(CLIENT_ID_KEY);
    expect(gateway.SEQUENCE_KEY).toBe(SEQUENCE_KEY);
    expect(gateway.FORWARDED_KEY).toBe(FORWARDED_KEY);
    expect(gateway.LEADER_HINT_TRAILER).toBe(LEADER_HINT_TRAILER);
  });

  it('uses etcd\'s texts as the members do', () => {
    for (const [name, text] of Object.entries(gateway.ETCD_TEXT)) {
      expect(ETCD_MESSAGES[name as keyof typeof ETCD_MESSAGES]).toBe(text);
    }
  });

  it('classifies the members\' answers as the members mean them', () => {
    const classify = (error: unknown): string => gateway.classifyFailure(toStatusError(error));
    expect(classify(new NotLeaderError(nodeId(5n)))).toBe('not-applied');
    expect(classify(new NotLeaderError(undefined))).toBe('not-applied');
    expect(classify(new ProposalLostError(42))).toBe('not-applied');
    expect(classify(SessionExpiredError.of('gw-1', 4))).toBe('session-refused');
    expect(classify(StaleSequenceError.of('gw-1', 3, 4))).toBe('session-refused');
  });
});
