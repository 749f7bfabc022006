import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../mail/message-id.js';
import type { Session } from '../session.js';
import { sync, type MessageEvent } from '../sync/engine.js';

// Push the local state changes of some messages now, without fetching:
// a focused sync of those messages, its per-message events folded into
// one outcome per message and project.

export type PushOutcome = 'pushed' | 'queued' | 'refused' | 'ambiguous' | 'conflict' | 'nothing';

export interface PushResult { messageId: string; project?: string; outcome: PushOutcome; state?: string; reason?: string }

export interface PushReport {
  results: PushResult[];
  /** Messages whose tags this push changed (a refused change put back, a conflict kept). */
  retagged: string[];
}

/** The messages named by ids, or matching a notmuch query. */
export async function messagesOf(session: Session, target: { messageIds?: readonly string[]; query?: string }): Promise<string[]> {
  if (target.messageIds) return [...target.messageIds];
  if (target.query) return [...(await session.notmuch.dump(target.query)).keys()];
  throw new PwnmError('USAGE', 'give messageIds or query');
}

/** Fold one event into the outcomes so far. */
function fold(outcomes: Map<string, PushResult>, e: MessageEvent): void {
  const key = `${e.msgid} ${e.project}`;
  const earlier = outcomes.get(key);
  // A push that went through over a change on Patchwork stays `pushed`; the conflict is its reason.
  if (e.kind === 'conflict' && earlier?.outcome === 'pushed') {
    if (e.reason) earlier.reason = e.reason;
    return;
  }
  const outcome = e.kind as Exclude<MessageEvent['kind'], 'retagged'>;
  outcomes.set(key, { messageId: e.msgid, project: e.project, outcome, ...(e.state ? { state: e.state } : {}), ...(e.reason ? { reason: e.reason } : {}) });
}

export async function pushMessages(session: Session, ids: readonly string[]): Promise<PushReport> {
  const outcomes = new Map<string, PushResult>();
  const retagged = new Set<string>();
  await sync(session, {
    messageIds: ids,
    onMessage: (e) => (e.kind === 'retagged' ? void retagged.add(e.msgid) : fold(outcomes, e)),
  });
  const results = [...outcomes.values()];
  for (const id of ids.map(notmuchMessageId)) if (!results.some((r) => r.messageId === id)) results.push({ messageId: id, outcome: 'nothing' });
  return { results, retagged: [...retagged] };
}
