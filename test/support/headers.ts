/** RFC 2047 encoded-words decoded (B and Q), the space between two of them dropped, as mail readers do. */
export function decodeWords(value: string): string {
  return value.replace(/(\?=)\s+(=\?)/g, '$1$2').replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, charset: string, enc: string, text: string) => {
    const bytes = enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return new TextDecoder(charset).decode(bytes);
  });
}

/** The header fields of a raw message, continuation lines unfolded, encoded-words decoded, names lower-cased. */
export function headersOf(raw: string): Record<string, string> {
  const head = raw.slice(0, raw.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');
  const fields: Record<string, string> = {};
  for (const line of head.split('\n')) {
    const i = line.indexOf(':');
    fields[line.slice(0, i).toLowerCase()] = decodeWords(line.slice(i + 1).trim());
  }
  return fields;
}

/**
 * The body `thanks` writes for the generator's 3-patch util-checks series applied to
 * origin/main, worked out from the format the issue gives: each patch's subject, its
 * commit (12 hex digits) and the commit URL from `urlBase` (commit_url without `%h`); no final
 * newline, as execa gives notmuch's output.
 */
export function utilChecksThanks(commits: readonly string[], urlBase: string): string {
  const subjects = ['util: check after step 20', 'util: report the check', 'hw/dev: probe before step 5'];
  return [
    'Hello,', '', 'This series was applied to origin/main, thanks!', '',
    ...subjects.flatMap((s, i) => [`  - [${i + 1}/3] ${s}`, `    commit ${commits[i]!.slice(0, 12)} ("${s}")`, `    ${urlBase}${commits[i]!.slice(0, 12)}`]),
  ].join('\n');
}
