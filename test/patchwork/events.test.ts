import { expect } from 'chai';
import { readEvents } from '../../server/patchwork/events.js';
import { sync } from '../../server/sync/engine.js';
import { makeEnv, type TestEnv } from '../helpers.js';

// Which events a sync acts on. A new series reaches us through the
// patch-created event of each of its patches (which carries the patch,
// and the patch its series and version), so series-completed, which
// carries only the series, is not asked for.

describe('Patchwork events', function () {
  this.timeout(30_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  /** A two-patch v2 series, mailed; the sandbox makes the events a real import makes. */
  async function newSeries(): Promise<number[]> {
    const data = t.sandbox.data;
    const dev = data.addPerson('Dev Eloper', 'dev@example.org');
    const series = data.addSeries({ project: t.project.id, name: '[v2,1/2] core: faster boot', version: 2, date: '2026-10-08T00:00:00', total: 2, submitter: dev.id, cover: null });
    const ids = [];
    for (const i of [1, 2]) {
      await t.addMail(`series-${i}@example.org`, { subject: `[PATCH v2 ${i}/2] core: faster boot` });
      ids.push(data.addPatch({ project: t.project.id, msgid: `<series-${i}@example.org>`, name: `[v2,${i}/2] core: faster boot`, submitter: dev.id, series: series.id, date: '2026-10-08T00:00:00' }).id);
    }
    return ids;
  }

  it('does not ask for series-completed: the patches of a new series come with their own events', async () => {
    t = await makeEnv({ patches: 3, stateMix: false });
    const s = t.session();
    await sync(s);
    const mark = { date: s.store.project('sandbox', 'skiboot')!.event_mark, ids: JSON.parse(s.store.project('sandbox', 'skiboot')!.event_ids ?? '[]') as number[] };
    const ids = await newSeries();

    const read = await readEvents(await s.client(s.instance('sandbox')), t.project.id, mark);
    // series-created, then patch-created and patch-completed per patch, then series-completed (patchwork/signals.py).
    expect(read.read).to.equal(6);
    expect(read.events.map((e) => e.category)).to.deep.equal(['patch-created', 'patch-created']);

    const summary = await sync(s);
    const p = summary.projects[0]!;
    expect([p.mode, p.eventsRead, p.fetched, p.retagged]).to.deep.equal(['events', 6, 2, 2]);
    // One events page and one GET per new patch; nothing for the series event.
    expect(p.httpRequests).to.equal(3);
    for (const [i, id] of ids.entries()) {
      expect(s.store.patch('sandbox', 'skiboot', `series-${i + 1}@example.org`)).to.include({ patch_id: id, series_version: 2, series_part: i + 1, series_total: 2 });
      expect(await t.tags(`series-${i + 1}@example.org`)).to.include('pw-skiboot-new');
    }
    await s.close();
  });
});
