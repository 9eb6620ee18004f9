/**
 * What a StatefulSet pod does at start, decided from its data dir and from what the other
 * pods of the StatefulSet say about the running cluster (Cluster.MemberList on their peer
 * ports, which every member serves, also while it has no leader):
 *
 *     data dir has an identity ──▶ some answer lists it ................ resume
 *                              └─▶ a majority answers, none lists it .... removed (stay idle)
 *                              └─▶ otherwise (no answers) ................ resume
 *     empty data dir ──▶ nobody answers: ordinal < initial size ........ bootstrap (new cluster)
 *                    │                   ordinal ≥ initial size ........ wait, ask again
 *                    └─▶ listed, never started, one of the initial voters  bootstrap (same entries
 *                    │                                                       as the others wrote)
 *                    └─▶ listed, never started, added later ............ join (existing)
 *                    └─▶ listed and started once: its data was lost .... replace: remove the old
 *                    │                                                     member, then add again
 *                    └─▶ not listed .................................... add as a learner, then join
 *
 * "Started" is etcd's test (`isMemberBootstrapped`): a member that ever ran has published its
 * client URLs (its name is known from the start: bootstrap entries and MemberAdd carry it). An empty data dir under a started member's URLs must not rejoin with
 * that member's id (it would vote having forgotten its log), so it is replaced by a new member.
 * A learner is promoted by the leader once caught up (MembershipManager.autoPromote).
 *
 * planBootstrap is pure; runPodBootstrap asks, acts (MemberAdd, MemberRemove) and asks again
 * until the plan is one to start with. Peer DNS names that do not resolve yet (normal while
 * Kubernetes creates the pods) are answers that did not come, never fatal.
 */
import { type CallOptions, type ClientTlsOptions, GrpcChannel, type ServiceClient, createClient } from '@keyval/grpc';
import { admin, type etcd } from '@keyval/proto';
import type { PeerTls } from '../transport/peer-credentials';
import { peerMemberList } from './member-discovery';
import { computeMemberId } from './member-identity';
import type { InitialMember } from './member-options';
import { podsToProbe } from './pod-identity';
import type { PodIdentity } from './pod-identity';

/** A member as one pod lists it. */
export interface ListedMember {
  readonly id: bigint;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/** One pod's answer: its cluster and the members it has applied. */
export interface ClusterView {
  readonly from: string;
  readonly clusterId: bigint;
  readonly members: readonly ListedMember[];
}

export type BootstrapPlan =
  | { readonly kind: 'resume' }
  | { readonly kind: 'removed'; readonly reason: string }
  | { readonly kind: 'bootstrap' }
  | { readonly kind: 'join'; readonly members: readonly ListedMember[] }
  | { readonly kind: 'add'; readonly members: readonly ListedMember[] }
  | { readonly kind: 'replace'; readonly stale: ListedMember; readonly members: readonly ListedMember[] }
  | { readonly kind: 'wait'; readonly reason: string };

export interface PlanInput {
  readonly identity: PodIdentity;
  readonly clusterToken: string;
  /** The identity in the data dir, when it has one. */
  readonly saved?: { readonly memberId: bigint; readonly clusterId: bigint };
  readonly views: readonly ClusterView[];
}

const hex = (id: bigint): string => id.toString(16);
/** A member that ever ran has published its client URLs (names are recorded when it is added). */
const started = (m: ListedMember): boolean => m.clientUrls.length > 0;

/** The views of the cluster most pods answered for (a view with no members has not applied its bootstrap yet). */
function mainCluster(views: readonly ClusterView[]): ClusterView[] {
  const byCluster = new Map<bigint, ClusterView[]>();
  for (const v of views) {
    if (v.members.length > 0) byCluster.set(v.clusterId, [...(byCluster.get(v.clusterId) ?? []), v]);
  }
  let best: ClusterView[] = [];
  for (const group of byCluster.values()) {
    if (group.length > best.length) best = group;
  }
  return best;
}

function planResume(input: PlanInput, saved: { memberId: bigint; clusterId: bigint }): BootstrapPlan {
  const same = input.views.filter((v) => v.clusterId === saved.clusterId && v.members.length > 0);
  if (same.length === 0 || same.some((v) => v.members.some((m) => m.id === saved.memberId))) {
    return { kind: 'resume' };
  }
  const largest = Math.max(...same.map((v) => v.members.length));
  if (same.length >= Math.floor(largest / 2) + 1) {
    return { kind: 'removed', reason: `member ${hex(saved.memberId)} of this data dir is not in cluster ${hex(saved.clusterId)} (${same.map((v) => v.from).join(', ')} list ${largest} members without it)` };
  }
  return { kind: 'resume' };
}

/** Decides what to do next. Pure. */
export function planBootstrap(input: PlanInput): BootstrapPlan {
  if (input.saved !== undefined) {
    return planResume(input, input.saved);
  }
  const { identity } = input;
  const views = mainCluster(input.views);
  if (views.length === 0) {
    return identity.ordinal < identity.settings.initialClusterSize
      ? { kind: 'bootstrap' }
      : { kind: 'wait', reason: `no running member answered (asked ${podsToProbe(identity).map((p) => p.name).join(', ')})` };
  }
  const listing = views.find((v) => v.members.some((m) => m.peerUrls.includes(identity.peerUrl)));
  const members = (listing ?? views.reduce((a, b) => (b.members.length > a.members.length ? b : a))).members;
  const mine = members.find((m) => m.peerUrls.includes(identity.peerUrl));
  if (mine === undefined) {
    return { kind: 'add', members };
  }
  if (started(mine)) {
    return { kind: 'replace', stale: mine, members };
  }
  const initialVoter = identity.ordinal < identity.settings.initialClusterSize && !mine.isLearner && mine.id === computeMemberId([identity.peerUrl], input.clusterToken);
  return initialVoter ? { kind: 'bootstrap' } : { kind: 'join', members };
}

/** --initial-cluster for joining: the listed members (unnamed ones by id) and this pod. */
export function joinCluster(identity: PodIdentity, members: readonly ListedMember[]): InitialMember[] {
  return members.map((m) => ({ name: m.peerUrls.includes(identity.peerUrl) ? identity.name : m.name || hex(m.id), peerUrls: [...m.peerUrls] }));
}

/** The cluster calls a pod's start needs; PodBootstrapIo.real() makes them over gRPC. */
export interface PodBootstrapIo {
  memberList(peerUrl: string, timeoutMs: number): Promise<{ clusterId: bigint; members: ListedMember[] }>;
  memberAdd(clientUrl: string, name: string, peerUrl: string, timeoutMs: number): Promise<void>;
  memberRemove(clientUrl: string, id: bigint, timeoutMs: number): Promise<void>;
}

export interface PodBootstrapLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** The start could not be decided before the deadline (the pod exits; Kubernetes restarts it). */
export class PodBootstrapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PodBootstrapError';
  }
}

/** What runPodBootstrap settled on. */
export type PodStart =
  | { readonly kind: 'resume' }
  | { readonly kind: 'bootstrap' }
  | { readonly kind: 'join'; readonly initialCluster: readonly InitialMember[] }
  | { readonly kind: 'removed'; readonly reason: string };

export interface PodBootstrapOptions {
  readonly identity: PodIdentity;
  readonly clusterToken: string;
  readonly saved?: { readonly memberId: bigint; readonly clusterId: bigint };
  readonly io: PodBootstrapIo;
  readonly logger: PodBootstrapLogger;
  /** Give up after this long (default 10 min). */
  readonly timeoutMs?: number;
  /** Pause between two rounds (default 1 s). */
  readonly retryMs?: number;
  /** Deadline of one call (default 3 s). */
  readonly callTimeoutMs?: number;
}

/** The answers of the other pods, and why the others gave none. */
async function askPods(options: PodBootstrapOptions): Promise<{ views: ClusterView[]; failures: string[] }> {
  const pods = podsToProbe(options.identity);
  const failures: string[] = [];
  const answers = await Promise.all(
    pods.map(async (p): Promise<ClusterView | undefined> => {
      try {
        return { from: p.name, ...(await options.io.memberList(p.peerUrl, options.callTimeoutMs ?? 3_000)) };
      } catch (error) {
        // Not created yet, DNS not published yet, still starting: not an answer (kept to say why).
        failures.push(`${p.name}: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      }
    }),
  );
  return { views: answers.flatMap((a) => (a === undefined ? [] : [a])), failures };
}

/** Client URLs of the started members, to send a membership change to (they forward it to the leader). */
function changeTargets(members: readonly ListedMember[]): string[] {
  return members.flatMap((m) => (started(m) ? [...m.clientUrls] : []));
}

async function tryEach(urls: readonly string[], call: (url: string) => Promise<void>): Promise<string | undefined> {
  const failures: string[] = [];
  for (const url of urls) {
    try {
      await call(url);
      return undefined;
    } catch (error) {
      failures.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return failures.length === 0 ? 'no started member to ask' : failures.join('; ');
}

/**
 * Asks the other pods, acts on the plan (add this pod as a learner; remove the member whose
 * data this pod lost) and asks again, until the plan is to start (or to stay idle). Whether a
 * change took effect is read from the next round's answers, never from an error's text.
 * @throws PodBootstrapError after `timeoutMs`
 */
export async function runPodBootstrap(options: PodBootstrapOptions): Promise<PodStart> {
  const { identity, io, logger } = options;
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  const callMs = options.callTimeoutMs ?? 3_000;
  let last = '';
  for (;;) {
    const { views, failures } = await askPods(options);
    const plan = planBootstrap({ identity, clusterToken: options.clusterToken, saved: options.saved, views });
    switch (plan.kind) {
      case 'resume':
      case 'bootstrap':
      case 'removed':
        return plan;
      case 'join':
        return { kind: 'join', initialCluster: joinCluster(identity, plan.members) };
      case 'add': {
        logger.info('adding this pod to the running cluster as a learner', { name: identity.name, peerUrl: identity.peerUrl });
        last = (await tryEach(changeTargets(plan.members), (url) => io.memberAdd(url, identity.name, identity.peerUrl, callMs))) ?? '';
        break;
      }
      case 'replace': {
        logger.warn('this pod has an empty data dir but the cluster lists its member as started: its data is lost; removing that member to add this pod as a new one', { stale: hex(plan.stale.id) });
        last = (await tryEach(changeTargets(plan.members), (url) => io.memberRemove(url, plan.stale.id, callMs))) ?? '';
        break;
      }
      case 'wait':
        // The failures say why (a TLS failure names the certificate flags involved).
        last = failures.length === 0 ? plan.reason : `${plan.reason}: ${failures.join('; ')}`;
        break;
    }
    if (Date.now() >= deadline) {
      throw new PodBootstrapError(`pod ${identity.name} could not join its cluster within ${Math.round((options.timeoutMs ?? 600_000) / 1000)} s: ${last}`);
    }
    if (last !== '') logger.warn('pod start not settled yet; asking again', { name: identity.name, step: plan.kind, detail: last });
    await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 1_000));
  }
}

/** How a pod reaches the others: its peer certificate for https:// peer URLs, its client-side TLS for https:// client URLs. */
export interface PodBootstrapTls {
  /** --peer-cert-file, --peer-key-file, --peer-trusted-ca-file (mutual TLS, as between members). */
  readonly peer?: PeerTls;
  /** TLS towards an https:// client URL (the member's --cert-file/--key-file, verified with --trusted-ca-file), as the leader forwarder uses. */
  readonly clientTlsFor?: (url: string) => ClientTlsOptions | undefined;
}

/**
 * Failures of a TLS handshake, as Node and grpc-js word them: certificate checks, alerts, and a
 * connection the server closed during the handshake (a refused client certificate: grpc-js
 * says only "Failed to connect", our client "before any HTTP/2 frame").
 */
const TLS_FAILURE = /certificate|CERT_|self[- ]signed|unable to (get|verify)|altname|ssl|tls|handshake|alert|before any HTTP\/2 frame|Last error: Failed to connect \(/i;

/** A start call to another pod failed; `tlsFailure` when its TLS handshake did (the message then names the certificate flags). */
export class PodCallError extends Error {
  constructor(
    readonly url: string,
    readonly side: 'peer' | 'client',
    readonly tlsFailure: boolean,
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'PodCallError';
  }
}

function podCallError(error: unknown, url: string, side: 'peer' | 'client'): PodCallError {
  const text = error instanceof Error ? error.message : String(error);
  return new PodCallError(url, side, url.startsWith('https://') && TLS_FAILURE.test(text), describeCallError(error, url, side), { cause: error });
}

/** `error` as text; a TLS failure says which flags choose the certificates involved. */
export function describeCallError(error: unknown, url: string, side: 'peer' | 'client'): string {
  const text = error instanceof Error ? error.message : String(error);
  if (!url.startsWith('https://') || !TLS_FAILURE.test(text)) return text;
  return side === 'peer'
    ? `${text} (TLS on the peer URL: this pod presents --peer-cert-file/--peer-key-file and verifies ${url} with --peer-trusted-ca-file; the certificate must name the pod's DNS name)`
    : `${text} (TLS on the client URL: this pod presents --cert-file/--key-file and verifies ${url} with --trusted-ca-file; the certificate must name the pod's DNS name)`;
}

type Admin = ServiceClient<typeof admin.AdminDefinition>;

async function adminCall<T>(clientUrl: string, tls: PodBootstrapTls, timeoutMs: number, call: (client: Admin, options: CallOptions) => Promise<T>): Promise<T> {
  const channel = new GrpcChannel(clientUrl, { connectTimeoutMs: timeoutMs, tls: tls.clientTlsFor?.(clientUrl) });
  try {
    return await call(createClient(admin.AdminDefinition, channel), { timeoutMs });
  } catch (error) {
    throw podCallError(error, clientUrl, 'client');
  } finally {
    channel.close();
  }
}

/**
 * The real calls: MemberList on peer ports (grpc-js, with the peer transport's credentials),
 * MemberAdd/MemberRemove (Admin API) on client ports (the member's own gRPC client, with the
 * TLS it forwards calls with). Plaintext for http:// URLs.
 */
export function grpcPodBootstrapIo(tls: PodBootstrapTls = {}): PodBootstrapIo {
  return {
    async memberList(peerUrl, timeoutMs) {
      let r: etcd.MemberListResponse;
      try {
        r = await peerMemberList(peerUrl, timeoutMs, tls.peer);
      } catch (error) {
        throw podCallError(error, peerUrl, 'peer');
      }
      return { clusterId: r.header?.clusterId ?? 0n, members: r.members.map((m) => ({ id: m.ID, name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner })) };
    },
    async memberAdd(clientUrl, name, peerUrl, timeoutMs) {
      await adminCall(clientUrl, tls, timeoutMs, (c, o) => c.memberAdd({ name, peerUrls: [peerUrl], voter: false, force: false }, o));
    },
    async memberRemove(clientUrl, id, timeoutMs) {
      await adminCall(clientUrl, tls, timeoutMs, (c, o) => c.memberRemove({ id, force: false }, o));
    },
  };
}
