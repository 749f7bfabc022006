import type { ProjectCounts } from './ops/counts.js';
import type { PatchInfo } from './ops/info.js';
import type { PendingItem } from './ops/pending.js';
import type { PushResult } from './ops/push.js';
import type { SyncSummary } from './sync/engine.js';
import type { SetStateResult } from './ops/set-state.js';

// Human-readable text for the command line. --json prints the objects as they are.

/** "1 patch", "2 patches": every count in a report goes through this. */
export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : /(s|ch|sh|x)$/.test(word) ? 'es' : 's'}`;

export function formatSync(summary: SyncSummary): string {
  const lines: string[] = [];
  for (const p of summary.projects) {
    const parts = [
      p.mode === 'events' ? `${plural(p.eventsRead, 'event')} read, ${p.fetched} fetched` : `${p.fetched} fetched`,
      `${p.retagged} retagged`, `${p.pushed} pushed`, plural(p.conflicts.length, 'conflict'),
      `${p.queued.length} queued`, `${p.refused.length} refused`, `${p.missingLocally} not in notmuch`,
    ];
    if (p.ambiguous.length) parts.push(`${p.ambiguous.length} ambiguous`);
    const how = p.mode === 'none' ? 'local only' : `${p.mode} sync`;
    lines.push(`${p.project} (${p.instance}, ${how}${summary.dryRun ? ', dry run' : ''}): ${parts.join(', ')}; ${plural(p.httpRequests, 'request')}, ${plural(p.notmuchCalls, 'notmuch call')}`);
    for (const n of p.notes) lines.push(`  note      ${n}`);
    for (const c of p.conflicts) lines.push(`  conflict  ${c.msgid} (patch ${c.patchId}): local ${c.local}, Patchwork ${c.remote}: ${c.reason}`);
    for (const r of p.refused) lines.push(`  refused   ${r.msgid} (patch ${r.patchId}) ${r.local}: ${r.reason}; tags put back to ${r.remote}`);
    for (const q of p.queued) lines.push(`  queued    ${q.msgid} (patch ${q.patchId}) ${q.local}: ${q.reason}`);
    for (const a of p.ambiguous) lines.push(`  ambiguous ${a.msgid} (patch ${a.patchId}): ${a.reason}`);
    for (const e of p.errors) lines.push(`  error     ${e}`);
  }
  for (const f of summary.rules?.fired ?? []) {
    lines.push(`rule ${f.rule}: id:${f.msgid} set ${plural(f.patches.length, 'patch')} to ${f.state} (${(f.results ?? []).map((x) => x.outcome).filter((o, i, all) => all.indexOf(o) === i).join(', ')})`);
  }
  if (summary.rulesError) lines.push(`rules: error: ${summary.rulesError}`);
  if (summary.trailers?.retagged) lines.push(`trailers: retagged ${plural(summary.trailers.retagged, 'patch')} from ${plural(summary.trailers.threads, 'thread')} (${summary.trailers.mode})`);
  if (summary.trailersError) lines.push(`trailers: error: ${summary.trailersError}`);
  lines.push(`done in ${(summary.durationMs / 1000).toFixed(1)} s; ${plural(summary.notmuchCalls, 'notmuch call')} in all`);
  return lines.join('\n');
}

export function formatCounts(counts: readonly ProjectCounts[]): string {
  const lines: string[] = [];
  for (const c of counts) {
    lines.push(`${c.project} (${c.instance}): ${plural(c.total, 'message')} tagged ${c.tag}; ${plural(c.missingLocally, 'patch')} not in notmuch; ${c.pending} pending`);
    for (const s of c.states) if (s.count > 0) lines.push(`  ${String(s.count).padStart(7)}  ${s.tag}`);
    for (const f of c.families) if (f.count > 0) lines.push(`  ${String(f.count).padStart(7)}  ${f.tag}`);
    lines.push(`  ${String(c.needsMyReview.count).padStart(7)}  need my review`);
  }
  return lines.join('\n');
}

export function formatSetState(results: readonly SetStateResult[]): string {
  return results.map((r) => `${r.project}: patch ${r.patchId} ${r.outcome === 'pushed' ? `set to ${r.state}` : r.outcome === 'unchanged' ? `already ${r.state}` : `${r.outcome}: ${r.reason ?? ''}`}`).join('\n');
}

/** `info`: one block per project the message's patch is in. */
export function formatInfo(patches: readonly PatchInfo[]): string {
  return patches.map((p) => {
    const s = p.series;
    const series = s ? `${s.part !== null && s.total !== null ? `${s.part}/${s.total} ` : ''}v${s.version ?? 1} ${s.name ?? ''} (series ${s.id})` : 'none';
    const checks = p.checks === null ? [`unknown (Patchwork could not be asked); combined ${p.check ?? 'none'}`]
      : p.checks.length === 0 ? ['none'] : p.checks.map((c) => `${c.context}: ${c.state}${c.targetUrl ? ` ${c.targetUrl}` : ''}`);
    const lines = [
      `${p.project} (${p.instance}) patch ${p.patchId}: ${p.name ?? p.messageId}`,
      `  state     ${p.stateName} (${p.tag})`,
      `  archived  ${p.archived ? 'yes' : 'no'}`,
      `  delegate  ${p.delegate ?? 'none'}`,
      `  series    ${series}`,
      ...(p.dependsOn?.length ? [`  depends   ${p.dependsOn.map((d) => `${d.name ?? ''} (series ${d.id})`).join(', ')}`] : []),
      ...checks.map((c) => `  check     ${c}`),
      `  web       ${p.webUrl ?? 'none'}`,
      ...(p.bundles.length ? [`  bundles   ${p.bundles.map((b) => b.name).join(', ')}`] : []),
      ...(p.review ? [`  review    ${[...p.review.tags, ...(p.review.needsMyReview ? ['needs my review'] : [])].join(', ') || 'none'}`] : []),
      ...(p.pending.length ? p.pending.map((x) => `  pending   ${x.kind}${x.state ? ` ${x.state}` : ''}: ${x.reason}`) : ['  pending   none']),
    ];
    return lines.join('\n');
  }).join('\n\n');
}

/** `pending`: one line per item, and its id for --drop and --retry. */
export function formatPending(items: readonly PendingItem[]): string {
  if (items.length === 0) return 'nothing pending';
  const lines = items.map((i) => `${i.kind.padEnd(9)} ${i.project} ${i.messageId}${i.state ? ` ${i.state}` : ''}: ${i.reason} (${plural(i.attempts, 'attempt')}, ${i.updated})`);
  lines.push(`${plural(items.length, 'item')} pending; pending --retry pushes again, pending --drop MESSAGE-ID forgets one`);
  return lines.join('\n');
}

/** `pending --retry`: what became of each message. */
export function formatPush(results: readonly PushResult[]): string {
  return results.map((r) => `${r.outcome.padEnd(9)} ${r.messageId}${r.project ? ` (${r.project})` : ''}${r.state ? ` ${r.state}` : ''}${r.reason ? `: ${r.reason}` : ''}`).join('\n') || 'nothing to retry';
}
