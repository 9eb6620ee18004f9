/**
 * The pod simulation's client, run inside its client namespace (the test process itself has no
 * route to the pods' subnet): `write` puts fresh keys `<prefix>/w<i>/<n>` through one endpoint
 * (the gateway) with `writers` concurrent writers until its standard input closes, printing one
 * JSON line per outcome; `read` prints every key under a prefix (a linearizable range).
 *
 *   node -r ./test/crash/ts-register.js test/deploy/sim-writer.ts write <host:port> <prefix> <writers>
 *   node -r ./test/crash/ts-register.js test/deploy/sim-writer.ts read <host:port> <prefix>
 */
import * as grpc from '@grpc/grpc-js';
import { etcd } from '@keyval/proto';

/** Deadline of one put: the gateway retries across leader changes within it. */
const PUT_TIMEOUT_MS = 15_000;
/** Most writes one run makes (a bound on every loop). */
const WRITES_MAX = 100_000;

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
const emit = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] as number) + 1;
  return end;
}

function put(client: etcd.KVClient, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.put({ key: bytes(key), value: bytes(`v-${key}`), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }, new grpc.Metadata(), { deadline: Date.now() + PUT_TIMEOUT_MS }, (error) => (error === null ? resolve() : reject(error)));
  });
}

async function write(target: string, prefix: string, writers: number): Promise<void> {
  const client = new etcd.KVClient(target, grpc.credentials.createInsecure());
  let stopping = false;
  let total = 0;
  process.stdin.on('end', () => (stopping = true));
  process.stdin.on('close', () => (stopping = true));
  process.stdin.resume();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let n = 0; !stopping && total < WRITES_MAX; n++) {
        total++;
        const key = `${prefix}/w${w}/${n}`;
        try {
          await put(client, key);
          emit({ ack: key });
        } catch (error) {
          const e = error as grpc.ServiceError;
          emit({ fail: key, code: grpc.status[e.code] ?? String(e.code), message: e.details ?? e.message });
        }
      }
    }),
  );
  client.close();
  process.stdin.pause();
  emit({ done: true, total });
}

async function read(target: string, prefix: string): Promise<void> {
  const client = new etcd.KVClient(target, grpc.credentials.createInsecure());
  const key = bytes(prefix);
  const response = await new Promise<etcd.RangeResponse>((resolve, reject) => {
    client.range(
      { key, rangeEnd: prefixEnd(key), limit: 0n, revision: 0n, sortOrder: 0, sortTarget: 0, serializable: false, keysOnly: true, countOnly: false, minModRevision: 0n, maxModRevision: 0n, minCreateRevision: 0n, maxCreateRevision: 0n },
      new grpc.Metadata(),
      { deadline: Date.now() + PUT_TIMEOUT_MS },
      (error, r) => (error === null ? resolve(r) : reject(error)),
    );
  });
  client.close();
  emit({ keys: response.kvs.map((kv) => Buffer.from(kv.key).toString('utf8')) });
}

async function main(argv: readonly string[]): Promise<void> {
  const [mode, target, prefix, writers] = argv;
  if (mode === 'write' && target !== undefined && prefix !== undefined && /^[1-9][0-9]?$/.test(writers ?? '')) {
    await write(target, prefix, Number(writers));
  } else if (mode === 'read' && target !== undefined && prefix !== undefined) {
    await read(target, prefix);
  } else {
    throw new Error('usage: sim-writer.ts write <host:port> <prefix> <writers 1-99> | read <host:port> <prefix>');
  }
}

// No process.exit on success: it could cut standard output (a pipe) short.
main(process.argv.slice(2)).then(
  () => undefined,
  (error: unknown) => {
    process.stderr.write(`sim-writer: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
