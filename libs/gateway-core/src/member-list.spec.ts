/** Member lists: addresses from client URLs, and what changed between two lists. */
import { etcd } from '@keyval/proto';
import { authorityOf, diffMembers, membersFromList } from './member-list';

const member = (id: bigint, name: string, clientURLs: string[], isLearner = false): etcd.Member => etcd.Member.fromPartial({ ID: id, name, clientURLs, isLearner });

describe('member lists', () => {
  it('takes the first usable client URL as the address', () => {
    expect(authorityOf('http://127.0.0.1:2379')).toBe('127.0.0.1:2379');
    expect(authorityOf('127.0.0.1:2379')).toBe('127.0.0.1:2379');
    expect(authorityOf('https://127.0.0.1:2379')).toBe('127.0.0.1:2379'); // TLS is the gateway's --cacert/--cert business
    expect(authorityOf('unix:///x.sock')).toBeUndefined();
    const members = membersFromList([member(1n, 'a', ['unix:///x.sock', 'http://127.0.0.1:2379']), member(2n, '', [])]);
    expect(members.get(1n)?.authority).toBe('127.0.0.1:2379');
    expect(members.get(2n)?.authority).toBeUndefined();
  });

  it('reports members added, changed (published an address, promoted) and removed', () => {
    const before = membersFromList([member(1n, 'a', ['http://127.0.0.1:1']), member(2n, 'b', []), member(3n, 'c', ['http://127.0.0.1:3'], true)]);
    const after = membersFromList([member(1n, 'a', ['http://127.0.0.1:1']), member(2n, 'b', ['http://127.0.0.1:2']), member(3n, 'c', ['http://127.0.0.1:3']), member(4n, 'd', [])]);
    const { added, removed } = diffMembers(before, after);
    expect(added.map((m) => m.id)).toEqual([2n, 3n, 4n]);
    expect(removed).toEqual([]);
    expect(diffMembers(after, before).removed.map((m) => m.id)).toEqual([4n]);
    expect(diffMembers(after, after)).toEqual({ added: [], removed: [] });
  });
});
