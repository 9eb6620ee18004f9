/**
 * keyval-gateway: one stable etcd v3 endpoint in front of a KeyVal cluster. Parses its flags
 * (and KEYVAL_GATEWAY_* variables), then runs a Nest application context holding the gateway
 * and its health endpoints. Exit codes: 0 clean stop, 1 failure, 2 bad usage.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { installLeanAsyncResourceBind } from '@keyval/gateway-core';
import { UsageError, installGracefulShutdown } from '@keyval/ops';
import { parseGatewayConfig } from './config/gateway-config';
import type { GatewayConfig } from './config/gateway-config';
import { GatewayModule } from './app.module';
import { GatewayService } from './gateway/gateway.service';
import { createLogger } from './logger';
import { HealthServerService } from './servers/health-server.service';
import { GATEWAY_VERSION } from './metrics/metrics.service';
import { startTracing } from './tracing';

async function run(config: GatewayConfig): Promise<void> {
  installLeanAsyncResourceBind(); // see @keyval/grpc lean-async-bind.ts: a per-call cost of Node's HTTP/2 client
  // Before anything else: the SDK (when OTEL_* asks for it) must own the context manager first.
  const tracing = await startTracing('keyval-gateway', `gateway-${config.listenClientUrls[0]?.port ?? 0}`, GATEWAY_VERSION);
  const logger = createLogger(config.logLevel, tracing.tracer !== undefined);
  const app = await NestFactory.createApplicationContext(GatewayModule.forConfig(config, logger, tracing), { logger: false, abortOnError: false });
  // Graceful shutdown on SIGTERM/SIGINT: stop taking calls, drain those in flight, close the
  // member connections, export the spans still buffered, exit 0. A second signal exits at once.
  installGracefulShutdown(logger, () => app.close().finally(() => tracing.shutdown().catch(() => undefined)));
  await app.get(GatewayService).start();
  await app.get(HealthServerService).start();
}

async function main(argv: readonly string[]): Promise<void> {
  let config: GatewayConfig | undefined;
  try {
    config = parseGatewayConfig(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`keyval-gateway: ${error.message}\nRun 'keyval-gateway --help' for the flags.\n`);
      process.exit(2);
    }
    throw error;
  }
  if (config === undefined) {
    return;
  }
  await run(config);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`keyval-gateway: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
