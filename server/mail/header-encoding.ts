// Header values with non-ASCII text as RFC 2047 encoded-words (UTF-8,
// base64), as mail clients write them: notmuch-emacs decodes those when it
// resumes a draft (mime-to-mml), while raw 8-bit bytes in a header it shows
// as they are ("ChloÃ©").

const ASCII = /^[\x20-\x7e]*$/;
/** UTF-8 bytes per encoded-word, so that `=?UTF-8?B?...?=` stays within RFC 2047's 75 characters. */
const MAX_BYTES = 45;

/** `text` as encoded-words, split between characters, never inside one. */
function encodedWords(text: string): string {
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch) > MAX_BYTES) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join(' ');
}

/**
 * Unstructured text (Subject): from the first word with non-ASCII to the last, one run of
 * encoded-words (the spaces inside it encoded too, as decoders drop the ones between words).
 */
export function encodeText(value: string): string {
  if (ASCII.test(value)) return value;
  const words = value.split(' ');
  const first = words.findIndex((w) => !ASCII.test(w));
  const last = words.length - 1 - [...words].reverse().findIndex((w) => !ASCII.test(w));
  return [...words.slice(0, first), encodedWords(words.slice(first, last + 1).join(' ')), ...words.slice(last + 1)].join(' ');
}

/** Split an address list at the commas outside quotes and angle brackets. */
function splitAddresses(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && quoted) { current += ch + (value[++i] ?? ''); continue; }
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') angle = true;
    else if (!quoted && ch === '>') angle = false;
    if (ch === ',' && !quoted && !angle) { out.push(current.trim()); current = ''; continue; }
    current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** An address list (From, To, Cc): each display name with non-ASCII as encoded-words; addresses as they are. */
export function encodeAddresses(value: string): string {
  if (ASCII.test(value)) return value;
  return splitAddresses(value).map((one) => {
    const m = /^(.*?)\s*(<[^<>]*>)$/.exec(one);
    if (!m || ASCII.test(m[1]!)) return one;
    const name = m[1]!.replace(/^"(.*)"$/, '$1').replace(/\\(.)/g, '$1');
    return `${encodedWords(name)} ${m[2]!}`;
  }).join(', ');
}
