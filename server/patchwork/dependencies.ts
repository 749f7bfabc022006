import { apiAtLeast, FILTERS_SINCE } from './api-version.js';
import type { PatchworkClient } from './client.js';

// Series dependencies. Patchwork main (API 1.4) lists them in a series'
// `dependencies` (API URLs), parsed from `Depends-on:` lines, but only where
// the project has show_dependencies on. Elsewhere (1.3 and older, or the
// option off) we read the same lines from the mail: the cover letter and
// the series mbox. A line names a message-id (`Depends-on: <id>`) or a
// web URL (a patch or cover letter page, or a series list `?series=N`).

/** What a series says about itself, as GET series/ID/ answers. */
export interface SeriesLinks {
  id: number;
  name: string | null;
  mbox: string;
  project: { id: number };
  cover_letter: { id: number } | null;
  /** API 1.4 with show_dependencies only. */
  dependencies?: string[];
}

export interface SeriesRef { id: number; name: string | null; mbox: string }

/** The `Depends-on:` values of a text, in order: message-ids without <>, or URLs. */
export function dependsOnLines(text: string): { msgid?: string; url?: string }[] {
  const found: { msgid?: string; url?: string }[] = [];
  for (const m of text.matchAll(/^Depends-on:[ \t]*(\S+)[ \t]*$/gim)) {
    const value = m[1]!;
    if (/^<[^>]+>$/.test(value)) found.push({ msgid: value.slice(1, -1) });
    else if (/^https?:\/\//i.test(value)) found.push({ url: value });
  }
  return found;
}

/** The series id an API series URL (…/api/1.4/series/12/) names. */
const apiSeriesId = (url: string): number | undefined => {
  const m = /\/series\/(\d+)\/?$/.exec(new URL(url).pathname);
  return m ? Number(m[1]) : undefined;
};

/**
 * The message-id (without <>) or series id a web URL names. Patchwork
 * percent-encodes a slash in a message-id as %2F (3.2 and later: then the
 * URL's %2F may come once more encoded as %252F); both decode to `/`.
 */
export function webUrlTarget(url: string): { msgid?: string; series?: number } | undefined {
  const u = new URL(url);
  const series = u.searchParams.get('series');
  if (series && /^\d+$/.test(series)) return { series: Number(series) };
  const m = /\/project\/[^/]+\/(?:patch|cover)\/(.+?)\/?$/.exec(u.pathname);
  if (!m) return undefined;
  let msgid = m[1]!;
  // Percent-decoding until stable: a browser copy may be encoded once, Django's reverse twice.
  for (let i = 0; i < 3 && /%[0-9A-Fa-f]{2}/.test(msgid); i++) msgid = decodeURIComponent(msgid);
  return { msgid: msgid.replace(/^<|>$/g, '') };
}

/** The series holding the patch or cover letter with this message-id, in the project. */
async function seriesOfMsgid(client: PatchworkClient, project: number, msgid: string): Promise<number | undefined> {
  if (!apiAtLeast(await client.discover(), FILTERS_SINCE)) return undefined;
  for (const resource of ['patches', 'covers']) {
    const found = await client.get<{ msgid: string; series?: { id: number }[] }[]>(resource, { project, msgid });
    const hit = found.find((x) => x.msgid === `<${msgid}>`)?.series?.[0];
    if (hit) return hit.id;
  }
  return undefined;
}

/** The ids of the series `s` depends on, in the order given; never `s` itself. */
export async function directDependencies(client: PatchworkClient, s: SeriesLinks): Promise<number[]> {
  let ids: (number | undefined)[];
  if (s.dependencies) {
    ids = s.dependencies.map(apiSeriesId);
  } else {
    const cover = s.cover_letter ? (await client.get<{ content?: string }>(`covers/${s.cover_letter.id}`)).content ?? '' : '';
    const lines = dependsOnLines(`${cover}\n${await client.download(s.mbox)}`);
    ids = [];
    for (const line of lines) {
      const target = line.url ? webUrlTarget(line.url) : { msgid: line.msgid };
      if (target?.series !== undefined) ids.push(target.series);
      else if (target?.msgid) ids.push(await seriesOfMsgid(client, s.project.id, target.msgid));
    }
  }
  return [...new Set(ids.filter((id): id is number => id !== undefined && id !== s.id))];
}

/**
 * Every series `id` needs first, each once, a dependency before what needs
 * it (depth first, in the order given), as `git-pw series apply --deps`
 * does; `id` itself is not in the list. A cycle is cut where it closes.
 */
export async function dependencyChain(client: PatchworkClient, id: number): Promise<SeriesRef[]> {
  const chain: SeriesRef[] = [];
  const seen = new Set<number>([id]);
  const visit = async (s: SeriesLinks): Promise<void> => {
    for (const dep of await directDependencies(client, s)) {
      if (seen.has(dep)) continue;
      seen.add(dep);
      const detail = await client.get<SeriesLinks>(`series/${dep}`);
      await visit(detail);
      chain.push({ id: detail.id, name: detail.name, mbox: detail.mbox });
    }
  };
  await visit(await client.get<SeriesLinks>(`series/${id}`));
  return chain;
}
