/**
 * A StatefulSet pod's start (--pod-name): asks the other pods what to do (libs/cluster
 * pod-bootstrap.ts) and turns the answer into the member's configuration, or into the idle
 * state of a pod whose member was removed (scaled down): it serves /healthz (alive) and
 * /readyz (503, with the reason) and waits for SIGTERM, so that it neither rejoins on its own
 * nor restarts in a loop until the StatefulSet is scaled down.
 */
import { type PodStart, grpcPodBootstrapIo, readIdentity, runPodBootstrap } from '@keyval/cluster';
import { installGracefulShutdown, startHealthServer } from '@keyval/ops';
import type { KeyvalConfig } from '../config/keyval-config';
import type { AppLogger } from '../logger';
import { libLogger } from '../logger';
import { MemberCertificates } from '../tls/member-certificates';

/** The configuration to start the member with, or undefined when the pod stays idle. */
export async function podStart(config: KeyvalConfig, logger: AppLogger): Promise<KeyvalConfig | undefined> {
  const identity = config.pod;
  if (identity === undefined) return config;
  // Nothing to drain yet: a pod deleted while it asks exits at once (as PID 1 in a container,
  // an unhandled SIGTERM would be ignored until the grace period's SIGKILL).
  const early = (): void => process.exit(0);
  process.once('SIGTERM', early);
  try {
    // A damaged identity file throws (IdentityFileError): fatal, never taken for a new member.
    const saved = await readIdentity(config.dataDir);
    logger.info({ pod: identity.name, peerUrl: identity.peerUrl, clientUrl: identity.clientUrl, hasData: saved !== undefined }, 'pod start: asking the other pods about the cluster');
    // https:// URLs: the peer certificate towards peer ports (mutual TLS, as between members),
    // the client-side certificate towards client ports (as when forwarding to the leader).
    const certificates = new MemberCertificates(config, logger);
    let start: PodStart;
    try {
      start = await runPodBootstrap({ identity, clusterToken: config.initialClusterToken, saved, io: grpcPodBootstrapIo({ peer: certificates.peerTls, clientTlsFor: (url) => certificates.channelTls(url) }), logger: libLogger(logger) });
    } finally {
      certificates.close();
    }
    logger.info({ start: start.kind }, 'pod start decided');
    switch (start.kind) {
      case 'resume':
      case 'bootstrap':
        return config;
      case 'join':
        return { ...config, initialClusterState: 'existing', initialCluster: start.initialCluster.map((m) => ({ name: m.name, peerUrls: [...m.peerUrls] })) };
      case 'removed':
        await stayIdle(config, logger, start.reason);
        return undefined;
    }
  } finally {
    process.removeListener('SIGTERM', early);
  }
}

async function stayIdle(config: KeyvalConfig, logger: AppLogger, reason: string): Promise<void> {
  logger.warn({ reason }, 'this pod\'s member was removed from the cluster: staying idle until the StatefulSet is scaled down (delete this pod\'s PersistentVolumeClaim for it to join as a new member)');
  const why = `removed from the cluster: ${reason}`;
  const server = await startHealthServer(
    config.listenMetricsUrls,
    {
      '/healthz': () => ({ status: 200, body: { health: 'true', idle: why } }),
      '/health': () => ({ status: 200, body: { health: 'true', idle: why } }),
      '/readyz': () => ({ status: 503, body: { ready: false, reason: why } }),
      '/livez': () => ({ status: 200, body: { live: true } }),
    },
    (url) => logger.info({ url }, 'serving health while idle'),
  );
  installGracefulShutdown(logger, () => server.close());
}
