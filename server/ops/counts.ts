import { idQuery } from '../notmuch/encoding.js';
import type { Session } from '../session.js';
import { learntMe } from '../sync/bundles.js';
import type { TagScheme } from '../tags.js';

// Message counts per project and state, from notmuch itself (so they match
// what `tag:pw-skiboot-new` shows), in one `notmuch count --batch` call.

export interface ProjectCounts {
  instance: string;
  project: string;
  tag: string;
  total: number;
  states: { state: string; tag: string; count: number }[];
  /** Counts of the other tag families: check-success/warning/fail, archived, delegated. */
  families: { name: string; tag: string; count: number }[];
  /** Patches Patchwork has whose mail is not in notmuch (yet). */
  missingLocally: number;
  pending: number;
  /** Patches that wait for the user's review, as a notmuch query (hello's saved search) and its count. */
  needsMyReview: { query: string; count: number };
  /** When the last sync of this project finished without error (ISO time), or null: never. */
  syncedAt: string | null;
}

export async function counts(session: Session, projects?: readonly string[]): Promise<ProjectCounts[]> {
  const { scheme, store } = session;
  const selected = session.select(projects);
  const plans = selected.map((sel) => {
    const known = store.knownStates(sel.instance.name, sel.project);
    const families = [
      ...['success', 'warning', 'fail'].map((c) => ({ name: `check-${c}`, tag: scheme.check(sel.project, c) })),
      { name: 'archived', tag: scheme.archived(sel.project) },
      { name: 'delegated', tag: scheme.delegated(sel.project) },
    ];
    const me = sel.instance.me ?? learntMe(session, sel.instance.name);
    const review = needsMyReviewQuery(scheme, sel.project, known, store.delegatedElsewhere(sel.instance.name, sel.project, me, REVIEW_STATES));
    return { sel, known, families, review };
  });
  const queries = plans.flatMap(({ sel, known, families, review }) => [`tag:${scheme.project(sel.project)}`, ...known.map((s) => `tag:${scheme.state(sel.project, s)}`), ...families.map((f) => `tag:${f.tag}`), review]);
  const numbers = await session.notmuch.count(queries);
  let i = 0;
  return plans.map(({ sel, known, families, review }) => {
    const total = numbers[i++] ?? 0;
    const states = known.map((state) => ({ state, tag: scheme.state(sel.project, state), count: numbers[i++] ?? 0 }));
    const familyCounts = families.map((f) => ({ ...f, count: numbers[i++] ?? 0 }));
    return {
      families: familyCounts,
      needsMyReview: { query: review, count: numbers[i++] ?? 0 },
      instance: sel.instance.name,
      project: sel.project,
      tag: scheme.project(sel.project),
      total,
      states,
      missingLocally: store.untaggedCount(sel.instance.name, sel.project),
      pending: store.pending(sel.instance.name, sel.project).length,
      syncedAt: store.project(sel.instance.name, sel.project)?.synced_at ?? null,
    };
  });
}

const REVIEW_STATES = ['new', 'under-review'];

/**
 * "Needs my review": state new or under-review, not delegated to someone
 * else, and no reply of mine in its thread (pw-PROJECT-replied, from
 * trailers.ts). Delegation to others is no tag unless tag_delegates is on,
 * so those patches are named by message-id, from the state database.
 */
export function needsMyReviewQuery(scheme: TagScheme, project: string, known: readonly string[], elsewhere: readonly string[]): string {
  const states = REVIEW_STATES.filter((s) => known.includes(s)).map((s) => `tag:${scheme.state(project, s)}`);
  const parts = [`tag:${scheme.project(project)}`, `(${states.join(' or ') || 'tag:pwnm-sync-no-such-state'})`, `not tag:${scheme.mail(project, 'replied')}`];
  if (elsewhere.length) parts.push(`not (${elsewhere.map(idQuery).join(' or ')})`);
  return parts.join(' and ');
}
