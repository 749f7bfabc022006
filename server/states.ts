// Patchwork's ten default state slugs, in its own order. Any other slug a
// server uses is learned from its data and tagged all the same.
export const DEFAULT_STATES: readonly string[] = [
  'new', 'under-review', 'accepted', 'rejected', 'rfc', 'not-applicable',
  'changes-requested', 'awaiting-upstream', 'superseded', 'deferred',
];

/** `changes-requested` -> `Changes Requested`. */
export function stateName(slug: string): string {
  return slug.split('-').map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w)).join(' ');
}
