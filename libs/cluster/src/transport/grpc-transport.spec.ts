import * as net from 'node:net';
import { crc32c } from '@node-rs/crc32';
import { nodeId } from '@keyval/raft';
import type { LogIndex, Message, NodeId, Term } from '@keyval/raft';
import { GrpcPeerTransport } from './grpc-transport';
import { senderPeerUrl } from './peer-urls';
import type { SnapshotChunkIn, SnapshotOffer, TransportReceiver } from './transport';
import { peerTarget } from './transport';

class Inbox implements TransportReceiver {
  readonly messages: Message[] = [];
  readonly snapshots: { offer: SnapshotOffer; data: Buffer }[] = [];
  private waiters: (() => void)[] = [];
  failSnapshot = false;

  deliver(messages: readonly Message[]): void {
    this.messages.push(...messages);
    this.waiters.splice(0).forEach((w) => w());
  }

  async receiveSnapshot(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>, progress: (n: number) => void): Promise<void> {
    const parts: Buffer[] = [];
    let received = 0;
    for await (const c of chunks) {
      if (crc32c(Buffer.from(c.data)) !== c.crc32c) throw new Error('bad chunk');
      parts.push(Buffer.from(c.data));
      received += c.data.byteLength;
      progress(received);
    }
    if (this.failSnapshot) throw new Error('disk on fire');
    const data = Buffer.concat(parts);
    if (crc32c(data) !== offer.crc32c) throw new Error('bad file');
    this.snapshots.push({ offer, data });
  }

  async waitFor(count: number): Promise<void> {
    while (this.messages.length < count) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

/** A loopback port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

const heartbeat = (from: NodeId, to: NodeId, round: number): Message => ({ type: 'Heartbeat', from, to, term: 3 as Term, commit: 7 as LogIndex, round });

describe('gRPC peer transport', () => {
  const a = nodeId(0xa1);
  const b = nodeId(0xffff_ffff_ffff_fff1n);
  let ta: GrpcPeerTransport;
  let tb: GrpcPeerTransport;
  let ia: Inbox;
  let ib: Inbox;
  let portB: number;

  beforeEach(async () => {
    ia = new Inbox();
    ib = new Inbox();
    ta = new GrpcPeerTransport({ clusterId: 42n, self: a, receiver: ia });
    tb = new GrpcPeerTransport({ clusterId: 42n, self: b, receiver: ib, snapshotWindowBytes: 64 * 1024 });
    const portA = await ta.listen('127.0.0.1:0');
    portB = await tb.listen('127.0.0.1:0');
    ta.setPeer(b, `http://127.0.0.1:${portB}`);
    tb.setPeer(a, `127.0.0.1:${portA}`);
  });

  afterEach(async () => {
    await Promise.all([ta.close(), tb.close()]);
  });

  it('delivers messages both ways, in order, with uint64 ids intact', async () => {
    const out = Array.from({ length: 1000 }, (_, k) => heartbeat(a, b, k + 1));
    ta.send(out);
    tb.send([heartbeat(b, a, 1)]);
    await ib.waitFor(1000);
    await ia.waitFor(1);
    expect(ib.messages).toEqual(out);
    expect(ia.messages[0]!.from).toBe(b);
  });

  it('answers a sender it has no address for at the peer URL the sender gave on its stream (etcd AddRemote)', async () => {
    const c = nodeId(0xc3);
    const ic = new Inbox();
    const learned: string[] = [];
    const portC = await freePort();
    // c's streams say where c listens; b has never heard of c.
    const tc = new GrpcPeerTransport({ clusterId: 42n, self: c, receiver: ic, advertisePeerUrls: [`http://127.0.0.1:${portC}`] });
    await tc.listen(`127.0.0.1:${portC}`);
    const tb2 = new GrpcPeerTransport({ clusterId: 42n, self: b, receiver: ib, onRemoteLearned: (id, url) => learned.push(`${id.toString(16)} ${url}`) });
    try {
      const portB2 = await tb2.listen('127.0.0.1:0');
      tb2.send([heartbeat(b, c, 1)]);
      expect(tb2.peerIds()).toEqual([]);
      tc.setPeer(b, `http://127.0.0.1:${portB2}`);
      tc.send([heartbeat(c, b, 1)]);
      await ib.waitFor(1);
      expect(learned).toEqual([`c3 http://127.0.0.1:${portC}`]);
      tb2.send([heartbeat(b, c, 2)]);
      await ic.waitFor(1);
      expect(ic.messages[0]).toMatchObject({ from: b, to: c, round: 2 });
      // The membership naming c later takes over from the remote.
      tb2.setPeer(c, `http://127.0.0.1:${portC}`);
      expect(tb2.peerIds()).toEqual([c]);
    } finally {
      await Promise.all([tc.close(), tb2.close()]);
    }
  });

  it('takes the first http(s) URL with a port from a peer-urls value, and nothing else', () => {
    expect(senderPeerUrl('http://10.0.0.1:2380,https://x:2380')).toBe('http://10.0.0.1:2380');
    expect(senderPeerUrl('garbage, https://keyval-0.peer:2380')).toBe('https://keyval-0.peer:2380');
    expect(senderPeerUrl('ftp://x:1,http://nohost')).toBeUndefined();
    expect(senderPeerUrl(undefined)).toBeUndefined();
    expect(senderPeerUrl('')).toBeUndefined();
  });

  it('carries Append entries byte for byte', async () => {
    const append: Message = {
      type: 'Append',
      from: a,
      to: b,
      term: 2 as Term,
      prevLogIndex: 4 as LogIndex,
      prevLogTerm: 1 as Term,
      entries: [{ index: 5 as LogIndex, term: 2 as Term, type: 0, data: new Uint8Array([1, 2, 3]) }],
      commit: 4 as LogIndex,
    };
    ta.send([append]);
    await ib.waitFor(1);
    const got = ib.messages[0] as Extract<Message, { type: 'Append' }>;
    expect({ ...got, entries: got.entries.map((e) => ({ ...e, data: [...e.data] })) }).toEqual({ ...append, entries: [{ ...append.entries[0], data: [1, 2, 3] }] });
  });

  it('refuses a member of another cluster and reports the peer unreachable', async () => {
    const stranger = new GrpcPeerTransport({ clusterId: 7n, self: a, receiver: new Inbox() });
    const unreachable: NodeId[] = [];
    stranger.onUnreachable((id) => unreachable.push(id));
    stranger.setPeer(b, `127.0.0.1:${portB}`);
    stranger.send([heartbeat(a, b, 1)]);
    for (let i = 0; i < 100 && unreachable.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(unreachable).toEqual([b]);
    expect(ib.messages).toEqual([]);
    await stranger.close();
  });

  it('streams a snapshot in checksummed chunks with flow control', async () => {
    const data = Buffer.alloc(1_000_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const meta = { index: 100 as LogIndex, term: 3 as Term, config: { voters: [a, b], learners: [] } };
    await ta.sendSnapshot(b, 3 as Term, meta, {
      totalBytes: data.length,
      crc32c: crc32c(data),
      async *chunks() {
        for (let off = 0; off < data.length; off += 32 * 1024) yield data.subarray(off, off + 32 * 1024);
      },
    });
    expect(ib.snapshots).toHaveLength(1);
    expect(ib.snapshots[0]!.offer.meta).toEqual(meta);
    expect(ib.snapshots[0]!.data.equals(data)).toBe(true);
  });

  it('fails the sender when the receiver rejects the snapshot', async () => {
    ib.failSnapshot = true;
    const data = Buffer.from('tiny');
    const meta = { index: 1 as LogIndex, term: 1 as Term, config: { voters: [a, b], learners: [] } };
    await expect(
      ta.sendSnapshot(b, 1 as Term, meta, {
        totalBytes: data.length,
        crc32c: crc32c(data),
        async *chunks() {
          yield data;
        },
      }),
    ).rejects.toThrow(/disk on fire/);
  });

  it('turns peer URLs into gRPC targets and names bad ones', () => {
    expect(peerTarget('http://10.0.0.2:2380')).toBe('10.0.0.2:2380');
    expect(peerTarget('localhost:2380')).toBe('localhost:2380');
    expect(peerTarget('https://x:1')).toBe('x:1');
    expect(() => peerTarget('ftp://x:1')).toThrow(/only http/);
    expect(() => peerTarget('http://x')).toThrow(/no port/);
    expect(() => peerTarget('nonsense')).toThrow(/not host:port/);
  });
});
