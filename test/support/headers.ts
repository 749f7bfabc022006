/** The header fields of a raw message, continuation lines unfolded, names lower-cased. */
export function headersOf(raw: string): Record<string, string> {
  const head = raw.slice(0, raw.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');
  const fields: Record<string, string> = {};
  for (const line of head.split('\n')) {
    const i = line.indexOf(':');
    fields[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return fields;
}
