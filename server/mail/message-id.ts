import { createHash } from 'node:crypto';

// A message-id as every part of pwnm-sync keys on it: the form notmuch
// indexes. Patchwork's msgid, the store, git trailers and the sync all
// meet here, so the Patchwork and notmuch adapters need not know each other.

/** NOTMUCH_MESSAGE_ID_MAX: 200 - sizeof("thread_id_"). */
const MESSAGE_ID_MAX = 189;

/**
 * A Patchwork msgid (`<a b@x>`, the header's text) in notmuch's form: no
 * angle brackets, no whitespace anywhere (notmuch drops it when indexing).
 */
export function notmuchMessageId(msgid: string): string {
  let id = msgid.trim();
  const m = /^<([^>]*)>/.exec(id);
  if (m) id = m[1]!;
  id = id.replace(/\s+/g, '');
  // notmuch keeps ids longer than 189 bytes as the SHA-1 of the id and its NUL.
  if (Buffer.byteLength(id) > MESSAGE_ID_MAX) id = `notmuch-sha1-${createHash('sha1').update(`${id}\0`).digest('hex')}`;
  return id;
}
