import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfChangeType, EntryType, encodeConfChangeEntry, nodeId } from '@keyval/raft';
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { decodeCommand, encodeCommand } from '../codec/command-codec';
import { DEFAULT_LIMITS } from '../limits';
import { MemoryStateMachine } from '../memory/memory-state-machine';
import { encodeMemberContext } from './membership';

const entry = (index: number, type: EntryType, data: Uint8Array): Entry => ({ index: index as LogIndex, term: 1 as Term, type, data });

describe('member attributes (published client URLs)', () => {
  it('round-trips through the codec and refuses a session', () => {
    const op = { type: 'memberAttributes' as const, id: nodeId(0xabcdefn), name: 'n1', clientUrls: ['http://127.0.0.1:2379'] };
    expect(decodeCommand(encodeCommand({ timestampMs: 5, op }), DEFAULT_LIMITS)).toEqual({ timestampMs: 5, op });
    expect(() => encodeCommand({ timestampMs: 5, op, session: { clientId: 'c', seq: 1 } })).toThrow(/cannot carry a session/);
  });

  it('sets a known member’s name and client URLs and ignores unknown members', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kv-attrs-'));
    const sm = await MemoryStateMachine.create({ snapshotDir: dir });
    const id = nodeId(7);
    const add = encodeConfChangeEntry({
      change: { type: ConfChangeType.AddVoter, nodeId: id, context: encodeMemberContext({ name: 'n7', peerUrls: ['http://p:1'], clientUrls: [] }) },
      config: { voters: [id], learners: [] },
    });
    const publish = encodeCommand({ timestampMs: 1, op: { type: 'memberAttributes', id, name: 'n7', clientUrls: ['http://c:2'] } });
    const stranger = encodeCommand({ timestampMs: 1, op: { type: 'memberAttributes', id: nodeId(9), name: 'x', clientUrls: ['http://c:3'] } });
    const results = await sm.apply([entry(1, EntryType.ConfChange, add), entry(2, EntryType.Normal, publish), entry(3, EntryType.Normal, stranger)]);
    expect(results.map((r) => r.kind)).toEqual(['confChange', 'empty', 'empty']);
    expect(sm.membership().members).toEqual([{ id, name: 'n7', peerUrls: ['http://p:1'], clientUrls: ['http://c:2'] }]);
    expect(sm.revision()).toBe(1);
    await sm.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
});
