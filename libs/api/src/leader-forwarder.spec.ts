import * as net from 'node:net';
import { GrpcServer, GrpcStatus, GrpcStatusError, Metadata } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { NotLeaderError, nodeId } from '@keyval/raft';
import { LeaderUnreachableError } from './api.errors';
import { toStatusError } from './error-status';
import { FORWARDED_KEY } from './leader-calls';
import { LeaderForwarder } from './leader-forwarder';

/** A loopback port nothing listens on (taken from the kernel, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const put = etcd.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') });

describe('LeaderForwarder', () => {
  const forwarders: LeaderForwarder[] = [];
  const servers: GrpcServer[] = [];
  const forwarderTo = (url: string | undefined): LeaderForwarder => {
    const f = new LeaderForwarder({ clientUrlsOf: () => (url === undefined ? [] : [url]) }, 1 << 20);
    forwarders.push(f);
    return f;
  };

  afterEach(async () => {
    for (const f of forwarders.splice(0)) f.close();
    await Promise.all(servers.splice(0).map((s) => s.shutdown(1_000)));
  });

  it('a leader whose port refuses connections is LeaderUnreachableError: the request never left, so it may be sent again', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const error = await forwarderTo(url)
      .forward(etcd.KVDefinition, 'put', put, new Metadata(), nodeId(0xabn), performance.now() + 2_000)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaderUnreachableError);
    expect((error as LeaderUnreachableError).message).toContain(`leader ab at ${url} is unreachable`);
    const status = toStatusError(error);
    expect(status.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(status.details).toMatch(/^etcdserver: no leader: leader ab at .* is unreachable: .*ECONNREFUSED/);
  });

  it("passes the leader's own answers through unchanged, and marks the request as forwarded", async () => {
    const seen: string[] = [];
    const server = new GrpcServer();
    servers.push(server);
    server.addService(etcd.KVDefinition, {
      put: async (req, call) => {
        seen.push(`${req.key.toString()} forwarded=${String(call.metadata.get(FORWARDED_KEY))} client=${String(call.metadata.get('keyval-client-id'))}`);
        if (req.value.toString() === 'fail') throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: leader changed');
        return { header: { clusterId: 1n, memberId: 2n, revision: 7n, raftTerm: 3n }, prevKv: undefined };
      },
    });
    const { port } = await server.listen(0, '127.0.0.1');
    const forwarder = forwarderTo(`http://127.0.0.1:${port}`);
    const md = new Metadata();
    md.set('keyval-client-id', 'c1');
    const ok = (await forwarder.forward(etcd.KVDefinition, 'put', put, md, nodeId(2n), performance.now() + 2_000)) as etcd.PutResponse;
    expect(ok.header?.revision).toBe(7n);
    const failed = await forwarder.forward(etcd.KVDefinition, 'put', { ...put, value: Buffer.from('fail') }, md, nodeId(2n), performance.now() + 2_000).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(GrpcStatusError);
    expect(failed).not.toBeInstanceOf(LeaderUnreachableError);
    expect((failed as GrpcStatusError).details).toBe('etcdserver: leader changed');
    expect(seen).toEqual(['k forwarded=1 client=c1', 'k forwarded=1 client=c1']);
  });

  it('a leader that has not published its client URL yet is NotLeaderError', async () => {
    await expect(forwarderTo(undefined).forward(etcd.KVDefinition, 'put', put, new Metadata(), nodeId(5n), performance.now() + 1_000)).rejects.toBeInstanceOf(NotLeaderError);
  });
});
