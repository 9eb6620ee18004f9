/**
 * The server the abuse suite attacks, in a process of its own so that its memory can be
 * measured alone: the test services (`./test-services`) on a GrpcServer with the options given
 * as JSON in argv[2]. It talks to its parent over the IPC channel:
 *
 *     child ─► { kind: 'listening', port }
 *     parent ─► { kind: 'reset-peak' }  child ─► { kind: 'peak-reset', rssBytes }
 *     parent ─► { kind: 'stats' }       child ─► { kind: 'stats', rssBytes, peakRssBytes, connections, ... }
 *     child ─► { kind: 'warning', name, message }   (every process warning, e.g. TimeoutOverflowWarning)
 *
 * The peak is the kernel's high-water mark of the resident set (VmHWM in /proc/self/status),
 * reset through /proc/self/clear_refs, so a short spike between two polls is not missed.
 */
import * as fs from 'node:fs';
import type { GrpcServerOptions } from '../server';
import { startTestServer } from './test-services';

export type TargetRequest = { kind: 'reset-peak' } | { kind: 'stats' } | { kind: 'stop' };

export type TargetMessage =
  | { kind: 'listening'; port: number }
  | { kind: 'peak-reset'; rssBytes: number }
  | { kind: 'stats'; rssBytes: number; peakRssBytes: number; connections: { total: number; refused: number; evicted: number }; activeCalls: number; handlerErrors: number }
  | { kind: 'warning'; name: string; message: string };

/** VmRSS and VmHWM of this process, in bytes. */
function residentSet(): { rssBytes: number; peakRssBytes: number } {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 'NaN') * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

async function main(): Promise<void> {
  const send = (message: TargetMessage): void => {
    process.send?.(message);
  };
  process.on('warning', (warning) => send({ kind: 'warning', name: warning.name, message: warning.message }));
  const options = JSON.parse(process.argv[2] ?? '{}') as GrpcServerOptions;
  const test = await startTestServer(options);
  process.on('message', (request: TargetRequest) => {
    switch (request.kind) {
      case 'reset-peak':
        fs.writeFileSync('/proc/self/clear_refs', '5');
        send({ kind: 'peak-reset', rssBytes: residentSet().rssBytes });
        break;
      case 'stats':
        send({
          kind: 'stats',
          ...residentSet(),
          connections: test.server.connectionCounts,
          activeCalls: test.server.activeCalls,
          handlerErrors: test.handlerErrors.length,
        });
        break;
      case 'stop':
        test.server.forceClose();
        process.exit(0);
    }
  });
  send({ kind: 'listening', port: test.port });
}

main().catch((error: unknown) => {
  process.stderr.write(`abuse target: ${String(error)}\n`);
  process.exit(1);
});
