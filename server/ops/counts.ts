import type { Session } from '../session.js';

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
    return { sel, known, families };
  });
  const queries = plans.flatMap(({ sel, known, families }) => [`tag:${scheme.project(sel.project)}`, ...known.map((s) => `tag:${scheme.state(sel.project, s)}`), ...families.map((f) => `tag:${f.tag}`)]);
  const numbers = await session.notmuch.count(queries);
  let i = 0;
  return plans.map(({ sel, known, families }) => {
    const total = numbers[i++] ?? 0;
    const states = known.map((state) => ({ state, tag: scheme.state(sel.project, state), count: numbers[i++] ?? 0 }));
    const familyCounts = families.map((f) => ({ ...f, count: numbers[i++] ?? 0 }));
    return {
      families: familyCounts,
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
