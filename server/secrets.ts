// Every secret this process holds, whatever its source (config file,
// command line, PWNM_SYNC_TOKEN, token_command, a client's initialize),
// and the one function that hides them in anything we print or send.
// Each output path (CLI stdout/stderr, the JSON-RPC writer, the server's
// stderr log) goes through `redact`, so a secret added here is hidden
// everywhere, even when a server's error text quotes it back.

/** What a secret becomes in output: nothing of it is kept, not even a prefix. */
export const REDACTED = '<token>';

/** Shorter values are not hidden: replacing every "ab" in a text would garble it, and no real token is that short. */
const MIN_LENGTH = 4;

const held = new Set<string>();

/** Remember a secret so that `redact` hides it from now on. */
export function holdSecret(value: string | undefined | null): void {
  const v = value?.trim();
  if (v && v.length >= MIN_LENGTH) held.add(v);
}

/** `text` with every held secret replaced by `<token>`, longest first (one may contain another). */
export function redact(text: string): string {
  let out = text;
  for (const s of [...held].sort((a, b) => b.length - a.length)) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** A JSON-shaped value with every held secret in its strings (keys included) replaced; the input is not changed. */
export function redactJson<T>(value: T): T {
  return held.size === 0 ? value : (walk(value) as T);
}

function walk(value: unknown): unknown {
  if (typeof value === 'string') return redact(value);
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') return walk((value as { toJSON: () => unknown }).toJSON());
  if (Array.isArray(value)) return value.map(walk);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), walk(v)]));
  return value;
}
