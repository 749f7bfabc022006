import { seriesKey } from '../patchwork/remote.js';
import type { RemotePatch } from '../store/store.js';
import type { ProjectRun } from './run.js';

/** States a newer series version leaves alone. */
const SETTLED = new Set(['superseded', 'accepted', 'rejected', 'not-applicable']);

/**
 * Opt-in (supersede_older_series): when a new version of a series arrives,
 * mark the patches of its older versions superseded. Patchwork does not
 * link versions, so: same project and submitter, the same series name
 * once version prefixes are dropped, and a lower version.
 */
export function supersede(run: ProjectRun, newRows: readonly RemotePatch[]): void {
  const { store } = run.session;
  const seen = new Set<number>();
  for (const r of newRows) {
    if (!r.submitter || !r.series_id || seen.has(r.series_id)) continue;
    seen.add(r.series_id);
    for (const old of store.olderSeriesPatches(run.inst.name, run.project, r.submitter, r.series_version ?? 1)) {
      if (seriesKey(old.series_name) !== seriesKey(r.series_name ?? null) || SETTLED.has(old.remote)) continue;
      if (run.pushes.some((p) => p.msgid === old.msgid)) continue;
      const what = `patch ${old.patch_id} (v${old.series_version}) superseded by series ${r.series_id} (v${r.series_version})`;
      // Read-only means no write request at all: say what would be done.
      if (!run.client?.canWrite) {
        run.summary.notes.push(`read-only: would mark ${what}`);
        continue;
      }
      run.summary.notes.push(what);
      run.pushes.push({ msgid: old.msgid, patchId: old.patch_id, state: 'superseded', remote: old.remote, row: old });
    }
  }
}

/** Rows that start a new version of a series not seen before, when superseding is on. */
export function newSeriesVersions(run: ProjectRun, rows: readonly RemotePatch[]): RemotePatch[] {
  const { store, config } = run.session;
  if (!config.supersedeOlderSeries) return [];
  return rows.filter((r) => r.series_id && (r.series_version ?? 1) > 1 && !store.knowsSeries(run.inst.name, run.project, r.series_id));
}
