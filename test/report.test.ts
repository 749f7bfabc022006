import { expect } from 'chai';
import { formatSync, plural } from '../server/report.js';
import type { SyncSummary } from '../server/sync/engine.js';
import { formatFill, type FillResult } from '../server/ops/fill.js';

// Counts in the report strings agree with their number: "1 notmuch call", "2 patches".

describe('report strings', () => {
  it('plural forms follow the count', () => {
    expect([plural(1, 'notmuch call'), plural(2, 'notmuch call'), plural(0, 'patch'), plural(1, 'patch'), plural(3, 'conflict'), plural(1, 'request')])
      .to.deep.equal(['1 notmuch call', '2 notmuch calls', '0 patches', '1 patch', '3 conflicts', '1 request']);
  });

  it('a sync summary with counts of one says each in the singular', () => {
    const p = {
      instance: 'ozlabs', project: 'skiboot', mode: 'events', eventsRead: 1, fetched: 1, retagged: 1, pushed: 1,
      conflicts: [], ambiguous: [], refused: [], queued: [], missingLocally: 0, httpRequests: 1, notmuchCalls: 1, notes: [], errors: [],
    };
    const text = formatSync({ projects: [p], durationMs: 1000, notmuchCalls: 1, ok: true } as unknown as SyncSummary);
    expect(text).to.equal('skiboot (ozlabs, events sync): 1 event read, 1 fetched, 1 retagged, 1 pushed, 0 conflicts, 0 queued, 0 refused, 0 not in notmuch; 1 request, 1 notmuch call\ndone in 1.0 s; 1 notmuch call in all');
  });

  it('a fill report with counts of one says each in the singular', () => {
    const r = { dryRun: false, planned: [], added: [{ kind: 'patch', project: 'skiboot', messageId: 'a@b', subject: 'x' }], failed: [], folder: 'patchwork', requests: 1, left: 1 };
    expect(formatFill(r as unknown as FillResult).split('\n').at(-1)).to.equal('added 1 mail into folder patchwork (1 request); 1 patch left for the next run (--limit)');
  });
});
