import { notmuchMessageId } from '../mail/message-id.js';
import type { RemotePatch } from '../store/store.js';
import type { PwPatch } from './types.js';

// The mapping from Patchwork's patch JSON to the row we store, and the
// series names and numbers read out of a patch's subject.

export function toRemote(p: PwPatch): RemotePatch {
  const series = p.series?.[0];
  const part = seriesPart(p.name ?? '');
  return {
    msgid: notmuchMessageId(p.msgid),
    patch_id: p.id,
    remote: p.state,
    archived: p.archived ? 1 : 0,
    date: p.date ?? null,
    name: p.name ?? null,
    web_url: p.web_url ?? webUrlOf(p.mbox),
    mbox: p.mbox ?? null,
    check_state: p.check ?? null,
    delegate: p.delegate?.username ?? null,
    submitter: p.submitter?.email ?? null,
    series_id: series?.id ?? null,
    series_name: series?.name ?? null,
    series_version: series?.version ?? null,
    series_part: part?.[0] ?? null,
    series_total: part?.[1] ?? null,
    hash: p.hash ?? null,
  };
}

/**
 * A patch's web page from its mbox URL, for lists read at API 1.0 (no
 * web_url): Patchwork serves the mbox at the page's URL plus `mbox/`, in
 * the msgid form (2.2+) and the id form alike.
 */
export function webUrlOf(mbox: string | undefined): string | null {
  return mbox && /\/mbox\/$/.test(mbox) ? mbox.slice(0, -'mbox/'.length) : null;
}

/** `[v3,2/7] core: ...` (Patchwork keeps the subject's prefixes but PATCH) gives [2, 7]. */
export function seriesPart(name: string): [number, number] | undefined {
  const prefixes = /^\[([^\]]*)\]/.exec(name)?.[1]?.split(',') ?? [];
  for (const p of prefixes) {
    const m = /^(\d+)\/(\d+)$/.exec(p.trim());
    if (m) return [Number(m[1]), Number(m[2])];
  }
  return undefined;
}

/** A series name without its version prefixes, to match versions of one series. */
export function seriesKey(name: string | null): string {
  return (name ?? '').replace(/^(\s*\[[^\]]*\])+\s*/, '').replace(/\s+/g, ' ').trim().toLowerCase();
}
