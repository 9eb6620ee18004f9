/**
 * What simulated clients and members say to each other. A client sends one request per
 * attempt; the member answers with one reply. Replies are definite ("not applied": redirect,
 * rejected, failed) or indeterminate ("unknown"), which decides whether the client may retry a
 * write (see sim-client.ts).
 */
import type { KvCommand } from './kv-state-machine';

export type ClientRequest =
  | { readonly kind: 'get'; readonly client: number; readonly opId: string; readonly attempt: number; readonly key: string; readonly lease: boolean }
  | { readonly kind: 'write'; readonly client: number; readonly opId: string; readonly attempt: number; readonly command: KvCommand };

export type ReplyOutcome =
  /** Done. `value` for reads; `succeeded` for writes (false: a cas whose comparison failed). */
  | { readonly type: 'ok'; readonly value?: string | null; readonly succeeded?: boolean }
  /** Not the leader: nothing was appended. `leader` is the member's hint, if it has one. */
  | { readonly type: 'redirect'; readonly leader: number | undefined }
  /** Refused before anything was appended (dropped proposal, transfer in progress, ...). */
  | { readonly type: 'rejected'; readonly reason: string }
  /** Definitely did not take effect (another term's entry was applied at its index, or a read failed). */
  | { readonly type: 'failed'; readonly reason: string }
  /** May or may not take effect (e.g. a snapshot skipped past its index). */
  | { readonly type: 'unknown'; readonly reason: string };

export interface ClientReply {
  readonly client: number;
  readonly opId: string;
  readonly attempt: number;
  readonly outcome: ReplyOutcome;
}

/** The read context a member uses with readIndex: unique per client attempt. */
export function readContext(request: ClientRequest): string {
  return `${request.opId}#${request.attempt}`;
}

export function describeRequest(request: ClientRequest): string {
  if (request.kind === 'get') {
    return `${request.opId}#${request.attempt} get ${request.key}${request.lease ? ' (lease)' : ''}`;
  }
  const c = request.command;
  switch (c.kind) {
    case 'put':
      return `${request.opId}#${request.attempt} put ${c.key}=${c.value}`;
    case 'delete':
      return `${request.opId}#${request.attempt} delete ${c.key}`;
    case 'cas':
      return `${request.opId}#${request.attempt} cas ${c.key} ${String(c.expected)}->${String(c.newValue)}`;
  }
}

export function describeOutcome(outcome: ReplyOutcome): string {
  switch (outcome.type) {
    case 'ok':
      return outcome.value !== undefined ? `ok ${String(outcome.value)}` : `ok${outcome.succeeded === false ? ' (cas failed)' : ''}`;
    case 'redirect':
      return `redirect to ${outcome.leader ?? '?'}`;
    case 'rejected':
    case 'failed':
    case 'unknown':
      return `${outcome.type}: ${outcome.reason}`;
  }
}
