/**
 * keyval: one member of a KeyVal cluster. Parses etcd-style flags, then runs a Nest
 * application context holding the member, its gRPC client servers and its health endpoints.
 * Exit codes: 0 clean stop, 1 failure, 2 bad usage.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { formatDataDirReport, verifyDataDir } from '@keyval/storage';
import { installLeanAsyncResourceBind } from '@keyval/grpc';
import { UsageError, installGracefulShutdown } from '@keyval/ops';
import { parseKeyvalConfig } from './config/keyval-config';
import type { KeyvalConfig } from './config/keyval-config';
import { KeyvalModule } from './app.module';
import { createLogger } from './logger';
import { MemberService } from './member/member.service';
import { podStart } from './member/pod-start';
import { ClientServerService } from './servers/client-server.service';
import { HealthServerService } from './servers/health-server.service';
import { startTracing } from './tracing';
import { KEYVAL_PRODUCT_VERSION } from './version';

async function verify(config: KeyvalConfig): Promise<number> {
  const report = await verifyDataDir(config.dataDir);
  process.stdout.write(`${formatDataDirReport(report)}\n`);
  return report.ok ? 0 : 1;
}

async function run(given: KeyvalConfig): Promise<void> {
  installLeanAsyncResourceBind(); // a per-call cost of Node's HTTP/2 client (forwarded writes): @keyval/grpc
  // Before anything else: the SDK (when OTEL_* asks for it) must own the context manager first.
  const tracing = await startTracing('keyval', given.name, KEYVAL_PRODUCT_VERSION);
  const logger = createLogger(given.name, given.logLevel, tracing.tracer !== undefined);
  if (tracing.tracer !== undefined) {
    logger.info({ exporter: process.env['OTEL_TRACES_EXPORTER'] ?? 'otlp', sampler: process.env['OTEL_TRACES_SAMPLER'] ?? 'parentbased_always_on' }, 'tracing on');
  }
  // In a StatefulSet pod (--pod-name): bootstrap, resume or join, decided with the other pods.
  const config = await podStart(given, logger);
  if (config === undefined) {
    return; // removed from the cluster: idle until SIGTERM
  }
  const app = await NestFactory.createApplicationContext(KeyvalModule.forMember(config, logger, tracing), { logger: false, abortOnError: false });
  // Graceful shutdown on SIGTERM/SIGINT: Nest's hooks run (stop accepting, drain, hand off
  // leadership, close storage), the spans still buffered are exported, then the process exits
  // 0. A second signal exits at once.
  installGracefulShutdown(logger, () => app.close().finally(() => tracing.shutdown().catch(() => undefined)));
  const fatal = (error: Error): void => {
    logger.fatal({ error: error.message, stack: error.stack }, 'fatal error; exiting');
    // A crashed member is safe, a corrupted one is not: exit at once, without cleanup.
    process.exit(1);
  };
  await app.get(MemberService).open(fatal);
  await app.get(ClientServerService).start();
  await app.get(HealthServerService).start();
}

async function main(argv: readonly string[]): Promise<void> {
  let config: KeyvalConfig | undefined;
  try {
    config = parseKeyvalConfig(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`keyval: ${error.message}\nRun 'keyval --help' for the flags.\n`);
      process.exit(2);
    }
    throw error;
  }
  if (config === undefined) {
    return;
  }
  if (config.verifyData) {
    process.exitCode = await verify(config);
    return;
  }
  await run(config);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`keyval: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
