// The two text formats we exchange with notmuch: batch-tag lines for
// `notmuch tag --batch` and `notmuch dump`, and Xapian-quoted id: terms.

// notmuch's own set of characters left as they are by hex_encode().
const SAFE = /[A-Za-z0-9+\-_@=.,]/;

/** Hex-encode a tag as notmuch's batch format wants it (%NN per UTF-8 byte). */
export function hexTag(tag: string): string {
  let out = '';
  for (const ch of tag) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function unhexTag(encoded: string): string {
  return decodeURIComponent(encoded.replace(/%(?![0-9a-fA-F]{2})/g, '%25'));
}

/**
 * An `id:` term that matches exactly one message-id whatever it holds: Xapian
 * quoting with inner quotes doubled. Batch queries are not hex-decoded by
 * notmuch, so this is all the escaping a query needs.
 */
export function idQuery(msgid: string): string {
  return `id:"${msgid.replace(/"/g, '""')}"`;
}

export interface TagChange {
  msgid: string;
  add: readonly string[];
  remove: readonly string[];
}

export function batchLine(change: TagChange): string {
  const ops = [...change.add.map((t) => `+${hexTag(t)}`), ...change.remove.map((t) => `-${hexTag(t)}`)];
  return `${ops.join(' ')} -- ${idQuery(change.msgid)}`;
}

/** One line of `notmuch dump --format=batch-tag` output, or undefined for headers. */
export function parseDumpLine(line: string): { msgid: string; tags: string[] } | undefined {
  if (line === '' || line.startsWith('#')) return undefined;
  const sep = line.indexOf(' -- id:');
  const tagPart = line.startsWith('-- id:') ? '' : sep >= 0 ? line.slice(0, sep) : undefined;
  if (tagPart === undefined) return undefined;
  const raw = line.slice(line.indexOf('-- id:') + '-- id:'.length);
  // Ids are not hex-encoded; they are Xapian-quoted when they need it.
  const msgid = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replace(/""/g, '"') : raw;
  const tags = tagPart === '' ? [] : tagPart.split(' ').filter(Boolean).map((t) => unhexTag(t.replace(/^\+/, '')));
  return { msgid, tags };
}
