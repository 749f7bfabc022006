import type { TagChange } from './encoding.js';

// Most messages carry one of a few sets of tags (`inbox unread`, then
// `patchwork pw-P pw-P-new` ...): one shared, frozen array per distinct set
// keeps a 100,000-message sync from holding 100,000 arrays of the same
// strings. Frozen, so that no holder can change what others share.

/** Past this many distinct sets a mailbox is unusual: new sets are no longer shared. */
const LIMIT = 50_000;

export class TagSets {
  private readonly known = new Map<string, string[]>();

  intern(tags: readonly string[]): string[] {
    // NUL cannot be in a tag: notmuch's batch format could not carry it.
    const key = tags.join('\0');
    const found = this.known.get(key);
    if (found) return found;
    const shared = Object.freeze([...tags]) as string[];
    if (this.known.size < LIMIT) this.known.set(key, shared);
    return shared;
  }

  /**
   * The same change with shared add and remove lists: a first sync queues
   * thousands of changes that mostly add the same three tags.
   */
  shareChange(change: TagChange): TagChange {
    return { msgid: change.msgid, add: this.intern(change.add), remove: this.intern(change.remove) };
  }
}
