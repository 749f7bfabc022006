import { createHash } from 'node:crypto';

// Patchwork's patch hash (patchwork.hasher.hash_diff), which it stores in
// every patch's `hash` field and filters on with `?hash=`. Computing it for a
// git commit finds the patch it came from. The rules, from
// test/fixtures/patchwork-3.1.3/NOTES.md §6 and checked against its 40 vectors:
//  1. drop CRs; strip the whole text (Python str.strip: Unicode whitespace);
//     add one newline;
//  2. split on \n, skip empty lines;
//  3. `--- X...` / `+++ X...` (X not blank): marker, space, a/ or b/, then the
//     first whitespace-delimited token without its first path component;
//  4. `@@ -A[,B] +C[,D] @@...` becomes `@@ -B +D @@` (a missing count is 1);
//  5. other lines count only when they start with -, + or space;
//  6. SHA-1 of each kept line plus \n, UTF-8, lowercase hex.

// Python's str.strip() whitespace: \s in JS covers the same Unicode spaces
// except the separators U+001C..U+001F, which Python counts too.
const PY_SPACE = '[\\s\\u001c-\\u001f]';
const STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'g');
const FILE_HEADER = /^(---|\+\+\+) (\S+)/;
const HUNK = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

export function hashDiff(diff: string): string {
  const hash = createHash('sha1');
  const text = `${diff.replace(/\r/g, '').replace(STRIP, '')}\n`;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let kept: string | undefined;
    const header = FILE_HEADER.exec(line);
    const hunk = HUNK.exec(line);
    if (header) {
      const [, marker, token] = header;
      const rest = token!.includes('/') ? token!.slice(token!.indexOf('/') + 1) : '';
      kept = `${marker} ${marker === '---' ? 'a' : 'b'}/${rest}`;
    } else if (hunk) {
      kept = `@@ -${Number(hunk[1] ?? 1)} +${Number(hunk[2] ?? 1)} @@`;
    } else if (/^[-+ ]/.test(line)) {
      kept = line;
    }
    if (kept !== undefined) hash.update(`${kept}\n`, 'utf8');
  }
  return hash.digest('hex');
}
