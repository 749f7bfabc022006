import type { TagFamilies } from '../config.js';
import type { PatchRow } from '../store/store.js';
import { ALL_PATCHES_TAG, type TagScheme, tagWord } from '../tags.js';
import type { TagChange } from '../notmuch/encoding.js';

// How one message's notmuch tags read for one project, and the tag change
// that makes them say a state. Shared by sync and set-state.

export interface LocalView {
  /** State slugs the tags name. */
  states: string[];
  /** The message lacks `patchwork` or the project tag. */
  missingBaseTags: boolean;
}

/** Map tag suffixes back to server slugs (a slug with odd characters has a different tag word). */
export function suffixMap(known: readonly string[]): Map<string, string> {
  return new Map(known.map((slug) => [tagWord(slug), slug]));
}

export function readTags(scheme: TagScheme, project: string, tags: readonly string[], suffixes: Map<string, string>): LocalView {
  const states: string[] = [];
  for (const tag of tags) {
    const suffix = scheme.stateSuffix(project, tag);
    if (suffix !== undefined) states.push(suffixes.get(suffix) ?? suffix);
  }
  return { states, missingBaseTags: !tags.includes(ALL_PATCHES_TAG) || !tags.includes(scheme.project(project)) };
}

/** What a message carries besides its state tag: the one-way families and the archived flag. */
export interface Extras {
  /** Check and delegation tags it must carry (all others of those families go). */
  derived: string[];
  /** The archived tag wanted; undefined when that family is off. */
  archived?: boolean;
}

export const NO_EXTRAS: Extras = { derived: [] };

/** The tags of the one-way families for a patch row. */
export function derivedTags(scheme: TagScheme, families: TagFamilies, me: string | undefined, project: string, row: Pick<PatchRow, 'check_state' | 'delegate'> | undefined): string[] {
  if (!row) return [];
  const tags: string[] = [];
  if (families.checks && row.check_state && row.check_state !== 'pending') tags.push(scheme.check(project, row.check_state));
  if (me && row.delegate === me) tags.push(scheme.delegated(project));
  if (families.delegates && row.delegate) tags.push(scheme.delegate(project, row.delegate));
  return tags;
}

/** The change that leaves exactly `state` as the project's state tag, and the extras as wanted; null when already so. */
export function retagChange(scheme: TagScheme, project: string, msgid: string, tags: readonly string[], state: string, extras: Extras = NO_EXTRAS): TagChange | null {
  const archivedTag = scheme.archived(project);
  const want = [...scheme.forState(project, state), ...extras.derived, ...(extras.archived ? [archivedTag] : [])];
  const add = want.filter((t) => !tags.includes(t));
  const keep = scheme.state(project, state);
  const remove = tags.filter((t) =>
    (t !== keep && scheme.stateSuffix(project, t) !== undefined)
    || (scheme.isDerived(project, t) && !extras.derived.includes(t))
    || (t === archivedTag && extras.archived === false));
  return add.length || remove.length ? { msgid, add, remove } : null;
}

/** The tags after a change, to keep an in-memory view current. */
export function applyChange(tags: readonly string[], change: TagChange | null): string[] {
  if (!change) return [...tags];
  const out = tags.filter((t) => !change.remove.includes(t));
  for (const t of change.add) if (!out.includes(t)) out.push(t);
  return out;
}
