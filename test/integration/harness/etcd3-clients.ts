/** The `etcd3` npm clients a suite makes, each on some members, all closed after the suite. */
import { Etcd3 } from 'etcd3';
import type { TestMember } from './member-process';

/** Call in a describe block: returns a maker of clients that afterAll closes. */
export function etcd3ClientsForSuite(): (members: readonly TestMember[]) => Etcd3 {
  const clients: Etcd3[] = [];
  afterAll(() => clients.forEach((client) => client.close()));
  return (members) => {
    const client = new Etcd3({ hosts: members.map((m) => m.clientUrl), dialTimeout: 3_000 });
    clients.push(client);
    return client;
  };
}
