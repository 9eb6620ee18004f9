/**
 * Interoperability of our HTTP/2 server with clients no one here wrote, beyond etcdctl and
 * etcd3 (`./etcd-compat.spec.ts`): Python's grpcio (gRPC's C core, with its BDP pings), the
 * python3-h2 state machine, nghttp (nghttp2) and curl --http2-prior-knowledge (which sends a
 * content-length). Each runs against the test services (`./testing/test-services`) at the
 * server's default limits; a client that is not installed is skipped, saying so (CI installs
 * them: .ci/run).
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { etcd } from '@keyval/proto';
import { putMessage } from './testing/h2-frames';
import { startTestServer, type TestServer } from './testing/test-services';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

/** Which of the clients this machine has. */
function has(command: string, ...args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const clients = {
  grpcio: has(PYTHON, '-c', 'import grpc'),
  h2: has(PYTHON, '-c', 'import h2.connection'),
  nghttp: has('nghttp', '--version'),
  curl: has('curl', '--version'),
};
for (const [name, present] of Object.entries(clients)) {
  if (!present) {
    console.warn(`interop tests with ${name} SKIPPED: not installed (.ci/run lists the Debian packages)`);
  }
}
const describeIf = (present: boolean): jest.Describe => (present ? describe : describe.skip);

/** A PutRequest as protobuf bytes, built by hand in the Python scripts from key and value. */
const GRPCIO_SCRIPT = `
import sys, grpc
target, count = sys.argv[1], int(sys.argv[2])
def put_request(key, value):
    return b'\\x0a' + bytes([len(key)]) + key + b'\\x12' + bytes([len(value)]) + value
with grpc.insecure_channel(target) as channel:
    put = channel.unary_unary('/etcdserverpb.KV/Put', request_serializer=lambda b: b, response_deserializer=lambda b: b)
    for i in range(count):
        reply = put(put_request(b'py', ('v%d' % i).encode()), timeout=5)
    snapshot = channel.unary_stream('/etcdserverpb.Maintenance/Snapshot', request_serializer=lambda b: b, response_deserializer=lambda b: b)
    chunks = list(snapshot(b'', metadata=[('chunks', '40'), ('size', '65536')], timeout=10))
    print(reply.hex(), len(chunks))
`;

const H2_SCRIPT = `
import socket, sys
import h2.connection, h2.config, h2.events
host, port, body = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
sock = socket.create_connection((host, port))
conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
conn.initiate_connection()
stream = conn.get_next_available_stream_id()
conn.send_headers(stream, [(':method', 'POST'), (':scheme', 'http'), (':path', '/etcdserverpb.KV/Put'), (':authority', 'test'), ('content-type', 'application/grpc'), ('te', 'trailers')])
conn.send_data(stream, body, end_stream=True)
sock.sendall(conn.data_to_send())
data, trailers, done = b'', {}, False
while not done:
    chunk = sock.recv(65536)
    if not chunk:
        break
    for event in conn.receive_data(chunk):
        if isinstance(event, h2.events.DataReceived):
            data += event.data
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            trailers = dict(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            done = True
    sock.sendall(conn.data_to_send())
conn.close_connection()
sock.sendall(conn.data_to_send())
sock.close()
print(trailers.get('grpc-status'), data.hex())
`;

describe('interop with other HTTP/2 and gRPC clients', () => {
  let test: TestServer;
  let dir: string;

  beforeAll(async () => {
    test = await startTestServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-interop-'));
    fs.writeFileSync(path.join(dir, 'put.bin'), putMessage('tool', 'value'));
  });

  afterAll(async () => {
    await test.server.shutdown(1000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describeIf(clients.grpcio)('python3-grpcio (gRPC C core)', () => {
    it('puts 50 times on one channel and reads a 2.5 MiB server stream (BDP pings and all)', async () => {
      const { stdout } = await run(PYTHON, ['-c', GRPCIO_SCRIPT, test.address, '50'], { timeout: 60_000 });
      const [hex, chunks] = stdout.trim().split(' ') as [string, string];
      expect(etcd.PutResponse.decode(Buffer.from(hex, 'hex')).prevKv?.value.toString()).toBe('v49');
      expect(Number(chunks)).toBe(40);
    });
  });

  describeIf(clients.h2)('python3-h2', () => {
    it('makes a call with its own HTTP/2 state machine', async () => {
      const { stdout } = await run(PYTHON, ['-c', H2_SCRIPT, '127.0.0.1', String(test.port), putMessage('h2', 'py').toString('hex')], { timeout: 30_000 });
      const [status, hex] = stdout.trim().split(' ') as [string, string];
      expect(status).toBe('0');
      expect(etcd.PutResponse.decode(Buffer.from(hex, 'hex').subarray(5)).prevKv?.value.toString()).toBe('py');
    });
  });

  describeIf(clients.nghttp)('nghttp (nghttp2)', () => {
    it('POSTs a gRPC request and sees grpc-status 0 in the trailers', async () => {
      const { stdout } = await run(
        'nghttp',
        ['-v', '-H', ':method: POST', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', path.join(dir, 'put.bin'), `http://${test.address}/etcdserverpb.KV/Put`],
        { timeout: 30_000, encoding: 'latin1' },
      );
      expect(stdout).toMatch(/grpc-status: 0/);
      expect(stdout).not.toMatch(/RST_STREAM|GOAWAY.*error_code=[1-9]/);
    });
  });

  describeIf(clients.curl)('curl --http2-prior-knowledge', () => {
    it('POSTs a gRPC request with a content-length and sees grpc-status 0', async () => {
      const out = path.join(dir, 'curl.out');
      const { stderr } = await run(
        'curl',
        ['--http2-prior-knowledge', '-sS', '-v', '-X', 'POST', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '--data-binary', `@${path.join(dir, 'put.bin')}`, '-o', out, `http://${test.address}/etcdserverpb.KV/Put`],
        { timeout: 30_000 },
      );
      expect(stderr).toMatch(/content-length: \d+/i);
      expect(stderr).toMatch(/grpc-status: 0/);
      expect(etcd.PutResponse.decode(fs.readFileSync(out).subarray(5)).prevKv?.value.toString()).toBe('value');
    });
  });
});
