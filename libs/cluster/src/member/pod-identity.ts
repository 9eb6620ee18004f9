/**
 * A member's identity derived from its Kubernetes StatefulSet pod, with no per-pod flags: the
 * pod name gives the StatefulSet and the ordinal (`keyval-2` → `keyval`, 2), the headless
 * (peer) Service gives every pod a stable DNS name, and the replica count the cluster was
 * created with gives the initial cluster.
 *
 *     pod keyval-2, service keyval-peer, namespace db, domain cluster.local, size 3
 *       name          keyval-2
 *       host          keyval-2.keyval-peer.db.svc.cluster.local
 *       peer URL      http://<host>:<peer port>      client URL  http://<host>:<client port>
 *       initial       keyval-0=http://keyval-0.keyval-peer.db.svc.cluster.local:2380,
 *                     keyval-1=…, keyval-2=…      (ordinals 0 .. size-1)
 *
 * The schemes follow the listen URLs: a pod listening for peers on https:// derives https://
 * peer URLs for itself and for every pod of the initial cluster (mutual TLS between members),
 * and likewise for the client URL.
 *
 * Pure: no I/O. What a pod does with it at start (bootstrap, resume, join) is pod-bootstrap.ts.
 */
import type { InitialMember } from './member-options';

/** A pod setting that cannot describe a StatefulSet pod (a usage error at the app's edge). */
export class PodIdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PodIdentityError';
  }
}

/** What the manifest hands the member (downward API and the StatefulSet's settings). */
export interface PodSettings {
  /** metadata.name of the pod, `<statefulset>-<ordinal>`. */
  readonly podName: string;
  /** metadata.namespace of the pod. */
  readonly namespace: string;
  /** The headless Service that governs the StatefulSet (spec.serviceName). */
  readonly peerService: string;
  /** The cluster's DNS domain (kubelet --cluster-domain), usually cluster.local. */
  readonly clusterDomain: string;
  /** The replica count the cluster was created with: ordinals below it bootstrap it. */
  readonly initialClusterSize: number;
  readonly peerPort: number;
  readonly clientPort: number;
  /** Scheme of the derived peer URLs (the --listen-peer-urls scheme); default http. */
  readonly peerScheme?: UrlScheme;
  /** Scheme of the derived client URL (the first --listen-client-urls scheme); default http. */
  readonly clientScheme?: UrlScheme;
}

export type UrlScheme = 'http' | 'https';

export interface PodIdentity {
  readonly settings: PodSettings;
  /** The member name: the pod name. */
  readonly name: string;
  readonly statefulSet: string;
  readonly ordinal: number;
  readonly host: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  /** Ordinals 0 .. initialClusterSize-1 with their peer URLs. */
  readonly initialCluster: readonly InitialMember[];
}

/** Most members a StatefulSet-bootstrapped cluster is created with. */
export const INITIAL_CLUSTER_SIZE_MAX = 9;

/** A DNS label (RFC 1123), as Kubernetes requires of pod, service and namespace names. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function checkLabel(value: string, what: string): void {
  if (!LABEL.test(value)) {
    throw new PodIdentityError(`${what} ${JSON.stringify(value)} is not a DNS label (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)`);
  }
}

function checkDomain(value: string): void {
  const labels = value.split('.');
  if (value.length > 253 || labels.some((l) => !LABEL.test(l))) {
    throw new PodIdentityError(`cluster domain ${JSON.stringify(value)} is not a DNS name`);
  }
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PodIdentityError(`${what} ${port} is not a TCP port`);
  }
}

function checkScheme(scheme: string | undefined, what: string): void {
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    throw new PodIdentityError(`${what} ${JSON.stringify(scheme)} is neither http nor https`);
  }
}

/** `<statefulset>-<ordinal>` split; throws PodIdentityError for anything else. */
export function parsePodName(podName: string): { statefulSet: string; ordinal: number } {
  checkLabel(podName, 'pod name');
  const match = /^(.+)-(0|[1-9][0-9]{0,8})$/.exec(podName);
  if (match === null) {
    throw new PodIdentityError(`pod name ${JSON.stringify(podName)} is not <statefulset>-<ordinal> (is this pod run by a StatefulSet?)`);
  }
  return { statefulSet: match[1] as string, ordinal: Number(match[2]) };
}

/** The stable DNS name the headless Service gives pod `ordinal` of the StatefulSet. */
export function podHost(s: PodSettings, statefulSet: string, ordinal: number): string {
  return `${statefulSet}-${ordinal}.${s.peerService}.${s.namespace}.svc.${s.clusterDomain}`;
}

/** The peer URL of pod `ordinal`. */
export function podPeerUrl(s: PodSettings, statefulSet: string, ordinal: number): string {
  return `${s.peerScheme ?? 'http'}://${podHost(s, statefulSet, ordinal)}:${s.peerPort}`;
}

/** Derives the identity; throws PodIdentityError naming the bad setting. */
export function podIdentity(s: PodSettings): PodIdentity {
  const { statefulSet, ordinal } = parsePodName(s.podName);
  checkLabel(s.namespace, 'namespace');
  checkLabel(s.peerService, 'peer service');
  checkDomain(s.clusterDomain);
  checkPort(s.peerPort, 'peer port');
  checkPort(s.clientPort, 'client port');
  checkScheme(s.peerScheme, 'peer URL scheme');
  checkScheme(s.clientScheme, 'client URL scheme');
  if (!Number.isInteger(s.initialClusterSize) || s.initialClusterSize < 1 || s.initialClusterSize > INITIAL_CLUSTER_SIZE_MAX) {
    throw new PodIdentityError(`initial cluster size ${s.initialClusterSize} must be a whole number from 1 to ${INITIAL_CLUSTER_SIZE_MAX}`);
  }
  const host = podHost(s, statefulSet, ordinal);
  const initialCluster = Array.from({ length: s.initialClusterSize }, (_, k) => ({ name: `${statefulSet}-${k}`, peerUrls: [podPeerUrl(s, statefulSet, k)] }));
  return { settings: s, name: s.podName, statefulSet, ordinal, host, peerUrl: podPeerUrl(s, statefulSet, ordinal), clientUrl: `${s.clientScheme ?? 'http'}://${host}:${s.clientPort}`, initialCluster };
}

/**
 * The pods to ask about the running cluster: every ordinal below the larger of the initial
 * size and this pod's own ordinal (a pod added by scaling up has every lower ordinal before
 * it), this pod excepted.
 */
export function podsToProbe(identity: PodIdentity): { name: string; peerUrl: string }[] {
  const count = Math.max(identity.settings.initialClusterSize, identity.ordinal);
  const pods: { name: string; peerUrl: string }[] = [];
  for (let k = 0; k < count; k++) {
    if (k !== identity.ordinal) {
      pods.push({ name: `${identity.statefulSet}-${k}`, peerUrl: podPeerUrl(identity.settings, identity.statefulSet, k) });
    }
  }
  return pods;
}
