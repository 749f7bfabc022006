// Patchwork API versions ("1.2", "1.10" one day) compared as numbers, part by
// part: as strings "1.10" < "1.2", and a filter would be sent to a server
// that drops it silently (a `msgid` filter under 1.2 returns every patch).

/** Whether `version` is `min` or newer; an unknown version (undefined) is not. */
export function apiAtLeast(version: string | undefined, min: string): boolean {
  if (!version) return false;
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** The first API version with the `msgid` and `hash` filters (older servers ignore them). */
export const FILTERS_SINCE = '1.2';
