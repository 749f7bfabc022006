import type { Session } from '../session.js';
import type { PendingKind, PendingRow } from '../store/store.js';
import { messageIdOf } from './lookup.js';
import { pushMessages, type PushReport } from './push.js';

// The pending list: changes that did not go through (queued pushes,
// refusals, conflicts, ambiguous tags), to see, retry or drop.

export interface PendingItem {
  /** Stable handle for retry and drop. */
  id: string;
  kind: PendingKind;
  instance: string;
  project: string;
  messageId: string;
  state: string | null;
  reason: string;
  attempts: number;
  updated: string;
}

export function pendingId(row: Pick<PendingRow, 'kind' | 'instance' | 'project' | 'msgid'>): string {
  return JSON.stringify([row.kind, row.instance, row.project, row.msgid]);
}

const itemOf = (r: PendingRow): PendingItem => ({ id: pendingId(r), kind: r.kind, instance: r.instance, project: r.project, messageId: r.msgid, state: r.state, reason: r.reason, attempts: r.attempts, updated: r.updated });

/** Every pending item, or those of one message in one project. */
export function listPending(session: Session, of?: { instance: string; project: string; msgid: string }): PendingItem[] {
  const rows = of ? session.store.pending(of.instance, of.project).filter((r) => r.msgid === of.msgid) : session.store.pending();
  return rows.map(itemOf);
}

/**
 * The rows named by `refs`: a pending id as `listPending` gives it, or on the
 * command line a Message-ID, meaning every item of that message.
 */
export function pendingRows(session: Session, refs: readonly string[], byMessageId = false): PendingRow[] {
  const msgids = byMessageId ? new Set(refs.map(messageIdOf)) : new Set<string>();
  return session.store.pending().filter((r) => refs.includes(pendingId(r)) || msgids.has(r.msgid));
}

/** Push the changes of these items' messages now. */
export function retryPending(session: Session, rows: readonly PendingRow[]): Promise<PushReport> {
  return pushMessages(session, [...new Set(rows.map((r) => r.msgid))]);
}

/** Forget these items (the tags stay as they are); how many went. */
export function dropPending(session: Session, rows: readonly PendingRow[]): number {
  session.store.transaction(() => rows.forEach((r) => session.store.dropPending(r.instance, r.project, r.msgid, r.kind)));
  return rows.length;
}
