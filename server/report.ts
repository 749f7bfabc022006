import type { ProjectCounts } from './status.js';
import type { SyncSummary } from './sync/engine.js';
import type { SetStateResult } from './sync/set-state.js';

// Human-readable text for the command line. --json prints the objects as they are.

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : word.endsWith('s') ? 'es' : 's'}`;

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
    lines.push(`${p.project} (${p.instance}, ${how}${summary.dryRun ? ', dry run' : ''}): ${parts.join(', ')}; ${plural(p.httpRequests, 'request')}, ${p.notmuchCalls} notmuch calls`);
    for (const n of p.notes) lines.push(`  note      ${n}`);
    for (const c of p.conflicts) lines.push(`  conflict  ${c.msgid} (patch ${c.patchId}): local ${c.local}, Patchwork ${c.remote}: ${c.reason}`);
    for (const r of p.refused) lines.push(`  refused   ${r.msgid} (patch ${r.patchId}) ${r.local}: ${r.reason}; tags put back to ${r.remote}`);
    for (const q of p.queued) lines.push(`  queued    ${q.msgid} (patch ${q.patchId}) ${q.local}: ${q.reason}`);
    for (const a of p.ambiguous) lines.push(`  ambiguous ${a.msgid} (patch ${a.patchId}): ${a.reason}`);
    for (const e of p.errors) lines.push(`  error     ${e}`);
  }
  lines.push(`done in ${(summary.durationMs / 1000).toFixed(1)} s; ${summary.notmuchCalls} notmuch calls in all`);
  return lines.join('\n');
}

export function formatCounts(counts: readonly ProjectCounts[]): string {
  const lines: string[] = [];
  for (const c of counts) {
    lines.push(`${c.project} (${c.instance}): ${c.total} messages tagged ${c.tag}; ${c.missingLocally} patches not in notmuch; ${c.pending} pending`);
    for (const s of c.states) if (s.count > 0) lines.push(`  ${String(s.count).padStart(7)}  ${s.tag}`);
    for (const f of c.families) if (f.count > 0) lines.push(`  ${String(f.count).padStart(7)}  ${f.tag}`);
  }
  return lines.join('\n');
}

export function formatSetState(results: readonly SetStateResult[]): string {
  return results.map((r) => `${r.project}: patch ${r.patchId} ${r.outcome === 'pushed' ? `set to ${r.state}` : r.outcome === 'unchanged' ? `already ${r.state}` : `${r.outcome}: ${r.reason ?? ''}`}`).join('\n');
}
