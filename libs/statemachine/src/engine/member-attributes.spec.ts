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

  it('memberUpdate: new peer URLs under the same id; an unknown id or a URL another member has changes nothing', async () => {
    const op = { type: 'memberUpdate' as const, id: nodeId(7), peerUrls: ['http://p:9', 'http://q:9'] };
    expect(decodeCommand(encodeCommand({ timestampMs: 5, op }), DEFAULT_LIMITS)).toEqual({ timestampMs: 5, op });
    expect(() => encodeCommand({ timestampMs: 5, op, session: { clientId: 'c', seq: 1 } })).toThrow(/cannot carry a session/);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kv-update-'));
    const sm = await MemoryStateMachine.create({ snapshotDir: dir });
    const [a, c] = [nodeId(7), nodeId(8)];
    const add = (id: typeof a, name: string, url: string, voters: (typeof a)[]): Uint8Array =>
      encodeConfChangeEntry({
        change: { type: ConfChangeType.AddVoter, nodeId: id, context: encodeMemberContext({ name, peerUrls: [url], clientUrls: ['http://c:1'] }) },
        config: { voters, learners: [] },
      });
    const update = (id: typeof a, peerUrls: string[]): Uint8Array => encodeCommand({ timestampMs: 1, op: { type: 'memberUpdate', id, peerUrls } });
    const results = await sm.apply([
      entry(1, EntryType.ConfChange, add(a, 'n7', 'http://p:1', [a])),
      entry(2, EntryType.ConfChange, add(c, 'n8', 'http://p:2', [a, c])),
      entry(3, EntryType.Normal, update(a, ['http://p:3'])),
      entry(4, EntryType.Normal, update(a, ['http://p:2'])),
      entry(5, EntryType.Normal, update(nodeId(9), ['http://p:4'])),
      entry(6, EntryType.Normal, update(a, ['http://p:3', 'http://p:5'])),
    ]);
    expect(results.slice(2).map((r) => (r.kind === 'memberUpdate' ? (r.refused ?? 'updated') : r.kind))).toEqual(['updated', 'peer-urls-exist', 'member-not-found', 'updated']);
    expect(sm.membership().members).toEqual([
      { id: a, name: 'n7', peerUrls: ['http://p:3', 'http://p:5'], clientUrls: ['http://c:1'] },
      { id: c, name: 'n8', peerUrls: ['http://p:2'], clientUrls: ['http://c:1'] },
    ]);
    expect(sm.membership().config).toEqual({ voters: [a, c], learners: [] });
    // A snapshot carries the new URLs (the members table is in its header).
    expect((await sm.createSnapshot()).membership.members[0]?.peerUrls).toEqual(['http://p:3', 'http://p:5']);
    await sm.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
});
