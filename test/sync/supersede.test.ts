import { expect } from 'chai';
import { sync } from '../../server/sync/engine.js';
import { makeEnv, type TestEnv } from '../helpers.js';

// supersede_older_series: a new version of a series marks the patches of
// its older versions superseded on Patchwork, never those already
// decided, and never anything at all without a token.

describe('supersede_older_series', function () {
  this.timeout(60_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  /** v1 of a six-patch series, one patch in each of six states, synced; returns its patch ids by state. */
  async function seriesV1(): Promise<Record<string, number>> {
    const data = t.sandbox.data;
    const dev = data.addPerson('Dev Eloper', 'dev@example.org');
    const v1 = data.addSeries({ project: t.project.id, name: '[1/6] core: faster boot', version: 1, date: '2026-10-31T12:00:00', total: 6, submitter: dev.id, cover: null });
    const ids: Record<string, number> = {};
    for (const [i, state] of ['new', 'under-review', 'accepted', 'rejected', 'not-applicable', 'superseded'].entries()) {
      // Mailed to the list, so that the first (full) sync reads them.
      await t.addMail(`v1-${i}@example.org`, { subject: `[PATCH ${i + 1}/6] core: faster boot`, date: new Date('2026-10-31T12:00:00Z') });
      const p = data.addPatch({ project: t.project.id, msgid: `<v1-${i}@example.org>`, name: `[${i + 1}/6] core: faster boot`, submitter: dev.id, series: v1.id, date: '2026-10-31T12:00:00', state });
      ids[state] = p.id;
    }
    return ids;
  }

  function seriesV2(): void {
    const data = t.sandbox.data;
    const dev = data.addPerson('Dev Eloper', 'dev@example.org');
    const v2 = data.addSeries({ project: t.project.id, name: '[v2,1/1] core: faster boot', version: 2, date: '2026-10-08T00:00:00', total: 1, submitter: dev.id, cover: null });
    data.addPatch({ project: t.project.id, msgid: '<v2-0@example.org>', name: '[v2,1/1] core: faster boot', submitter: dev.id, series: v2.id, date: '2026-10-08T00:00:00' });
  }
  const stateOf = (id: number): string => t.sandbox.data.patches.get(id)!.state;

  it('marks the undecided patches of the older version superseded, and leaves accepted and rejected ones alone', async () => {
    t = await makeEnv({ patches: 1 });
    t.writeConfig('', 'supersede_older_series = true');
    const ids = await seriesV1();
    const s = t.session();
    await sync(s);
    seriesV2();
    const summary = await sync(s);
    expect(summary.projects[0]!.errors).to.deep.equal([]);
    expect(Object.entries(ids).map(([state, id]) => [state, stateOf(id)])).to.deep.equal([
      ['new', 'superseded'], ['under-review', 'superseded'], ['accepted', 'accepted'], ['rejected', 'rejected'], ['not-applicable', 'not-applicable'], ['superseded', 'superseded'],
    ]);
    // Only the two undecided patches were written to.
    expect(t.sandbox.log.filter((r) => r.method === 'PATCH').map((r) => r.url).sort()).to.deep.equal([`/api/1.3/patches/${ids.new}/`, `/api/1.3/patches/${ids['under-review']}/`].sort());
    await s.close();
  });

  it('read-only: sends no write request, reports what it would do', async () => {
    t = await makeEnv({ patches: 1, token: 'none' });
    t.writeConfig('', 'supersede_older_series = true');
    const ids = await seriesV1();
    const s = t.session();
    await sync(s);
    seriesV2();
    const before = t.sandbox.log.length;
    const summary = await sync(s);
    const p = summary.projects[0]!;
    expect(t.sandbox.log.slice(before).filter((r) => r.method !== 'GET')).to.deep.equal([]);
    expect(p.refused).to.deep.equal([]);
    expect(p.pushed).to.equal(0);
    expect(p.notes.filter((n) => /supersede/.test(n)).sort()).to.deep.equal([
      `read-only: would mark patch ${ids.new} (v1) superseded by series ${t.sandbox.data.series.size} (v2)`,
      `read-only: would mark patch ${ids['under-review']} (v1) superseded by series ${t.sandbox.data.series.size} (v2)`,
    ].sort());
    expect(Object.entries(ids).every(([state, id]) => stateOf(id) === state)).to.equal(true);
    await s.close();
  });
});
