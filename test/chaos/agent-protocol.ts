/**
 * What the client agent (client-agent.ts, running in the client namespace) serves to the
 * harness. Member ids travel as hex strings (IPC messages are JSON: no bigint).
 */
import type { Operation } from '@keyval/lincheck';
import type { WorkloadKind } from './chaos-options';
import type { FinalReport } from './workloads';

/** The agent's certificate files (--tls): it and its gateway verify the members with the CA and present the client certificate. */
export interface AgentTls {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A member as the agent reaches it. */
export interface AgentMember {
  readonly name: string;
  /** host:port of its client URL (https://host:port with --tls). */
  readonly client: string;
  /** http://host:port of its metrics URL. */
  readonly metrics: string;
}

/** One member's view of the cluster, or why it could not be asked. */
export interface MemberView {
  readonly name: string;
  readonly reachable: boolean;
  readonly ready: boolean;
  /** This member's id (hex), from the status header. */
  readonly id?: string;
  /** The leader it knows (hex), '0' for none. */
  readonly leader?: string;
  readonly term?: number;
  readonly raftIndex?: number;
  readonly appliedIndex?: number;
  readonly isLearner?: boolean;
  readonly error?: string;
}

/** A member as the cluster's member list shows it. */
export interface ListedMember {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

export interface WorkloadParams {
  readonly workload: WorkloadKind;
  readonly clients: number;
  /** Target operations per second, all clients together. */
  readonly rate: number;
  readonly seed: number;
  /** Times in the history are ms since this epoch time (performance.timeOrigin based). */
  readonly t0EpochMs: number;
  readonly opTimeoutMs: number;
  readonly attemptTimeoutMs: number;
  /** Distinguishes this run's session ids. */
  readonly runTag: string;
  /** The clients talk to the members, or to a gateway the agent starts in front of them. */
  readonly via: 'members' | 'gateway';
  /** The gateway's log file (via gateway). */
  readonly gatewayLog: string;
}

/** What the workload produced. */
export interface WorkloadResult {
  readonly ops: Operation[];
  /** Per operation: the members it was sent to (`n1>n2`) and its last error, if any. */
  readonly notes: string[];
  /** Attempt errors by their text (numbers and addresses stripped), with counts. */
  readonly errors: Record<string, number>;
  readonly final: FinalReport;
}

export type AgentMethods = {
  /** (Re)defines the members the agent talks to. */
  members: { params: { members: readonly AgentMember[]; tls?: AgentTls }; result: null };
  /** Every member's status and readiness, each asked with `timeoutMs`. */
  status: { params: { timeoutMs: number }; result: MemberView[] };
  /** The member list, as `via` knows it. */
  memberList: { params: { via: string; timeoutMs: number }; result: ListedMember[] };
  /** Maintenance.MoveLeader sent to `via` (the leader). */
  moveLeader: { params: { via: string; targetId: string; timeoutMs: number }; result: null };
  /**
   * What an operator does once a full disk has space again: Maintenance.Alarm GET, then
   * DEACTIVATE of every NOSPACE alarm, sent to `via`; returns how many were disarmed.
   */
  disarmNoSpace: { params: { via: string; timeoutMs: number }; result: number };
  /** Cluster.MemberRemove sent to `via`. */
  memberRemove: { params: { via: string; id: string; timeoutMs: number }; result: null };
  /** Cluster.MemberAdd sent to `via`; returns the new member's id. */
  memberAdd: { params: { via: string; peerUrl: string; learner: boolean; timeoutMs: number }; result: string };
  /** Starts the workload's clients. */
  startWorkload: { params: WorkloadParams; result: null };
  /** Stops the clients (each finishes its operation), does the final read, returns everything. */
  finishWorkload: { params: { finalReadTimeoutMs: number }; result: WorkloadResult };
};
