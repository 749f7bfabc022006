import { expect } from 'chai';
import { readEvents } from '../../server/patchwork/events.js';
import type { Session } from '../../server/session.js';
import { sync } from '../../server/sync/engine.js';
import { makeEnv, msgidOf, patchIn, type TestEnv } from '../helpers.js';

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
    t.writeConfig('', 'tag_bundles = off'); // these count event requests; bundles cost one listing more
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
    // One events page, one GET per new patch, the archive check; nothing for the series event.
    expect(p.httpRequests).to.equal(4);
    for (const [i, id] of ids.entries()) {
      expect(s.store.patch('sandbox', 'skiboot', `series-${i + 1}@example.org`)).to.include({ patch_id: id, series_version: 2, series_part: i + 1, series_total: 2 });
      expect(await t.tags(`series-${i + 1}@example.org`)).to.include('pw-skiboot-new');
    }
    await s.close();
  });

  describe('the event mark', () => {
    /** A naive UTC date `ms` from `date` (a mark or an event date), with microseconds as event dates have. */
    const shifted = (date: string, ms: number): string => `${new Date(Date.parse(`${date.slice(0, 19)}Z`) + ms).toISOString().slice(0, 19)}.000000`;
    const naiveNow = (): string => new Date().toISOString().slice(0, 19);
    const markOf = (s: Session): { date: string; ids: number[] } => {
      const row = s.store.project('sandbox', 'skiboot')!;
      return { date: row.event_mark!, ids: JSON.parse(row.event_ids ?? '[]') as number[] };
    };
    /** The events a mail import of every patch makes (the generator makes none), `agoMs` back. */
    function importEvents(agoMs: number): void {
      const data = t.sandbox.data;
      for (const id of data.byProject.get(t.project.id)!) {
        const patch = data.patches.get(id)!;
        data.addEvent('patch-created', t.project.id, null, { patch: id });
        if (patch.series !== null) data.addEvent('patch-completed', t.project.id, null, { patch: id, series: patch.series });
      }
      for (const e of data.events) e.date = shifted(e.date, -agoMs);
      expect(data.events.length).to.be.above(250);
    }
    /** Change a patch's state on the server, its event dated `date` (a late commit, say). */
    function changeState(state: string, date?: string): string {
      const id = patchIn(t, 'new');
      t.sandbox.data.setState(id, state);
      if (date) t.sandbox.data.events.at(-1)!.date = date;
      return msgidOf(t, id);
    }

    it('is the server\'s time at the start of a full sync: the next sync reads no older event, and one of its window it has not seen', async () => {
      t = await makeEnv({ patches: 150, stateMix: false });
      t.writeConfig('', 'tag_bundles = off'); // these count event requests; bundles cost one listing more
      importEvents(60_000); // a minute ago: hundreds of events within a second of each other
      const s = t.session();
      const before = naiveNow();
      await sync(s);
      const after = naiveNow();
      const mark = markOf(s);
      expect(mark.date >= before && mark.date <= after, `${mark.date} within [${before}, ${after}]`).to.equal(true);
      expect(mark.ids).to.deep.equal([]);

      let p = (await sync(s)).projects[0]!;
      // The events page and the archive check's count.
      expect([p.mode, p.httpRequests, p.eventsRead, p.fetched]).to.deep.equal(['events', 2, 0, 0]);

      // Dated 3 s before the mark but committed after the sync read the log.
      const late = changeState('accepted', shifted(markOf(s).date, -3_000));
      p = (await sync(s)).projects[0]!;
      expect([p.httpRequests, p.eventsRead]).to.deep.equal([2, 1]);
      expect(await t.tags(late)).to.include('pw-skiboot-accepted');
      await s.close();
    });

    it('is read at a full sync from the project lookup\'s time on: only the events since then, not a page of the log', async () => {
      t = await makeEnv({ patches: 150, stateMix: false });
      t.writeConfig('', 'tag_bundles = off');
      importEvents(60_000);
      const s = t.session();
      const mark = t.sandbox.log.length;
      await sync(s);
      const events = t.sandbox.log.slice(mark).map((r) => new URL(r.url, 'http://x')).filter((u) => u.pathname.endsWith('/events/'));
      expect(events).to.have.length(1);
      // The window before the server's time of the project's lookup (Date headers have whole seconds).
      const since = events[0]!.searchParams.get('since');
      expect(since !== null && since >= shifted(naiveNow(), -15_000), String(since)).to.equal(true);
      expect(markOf(s).ids).to.deep.equal([]);
      await s.close();
    });

    it('is the server\'s time of an incremental sync\'s read too: after one that read an import, one change costs one request and the archive check', async () => {
      t = await makeEnv({ patches: 150, stateMix: false });
      t.writeConfig('', 'tag_bundles = off'); // these count event requests; bundles cost one listing more
      const s = t.session();
      await sync(s);
      // As if that sync ran a minute ago, and a mail import came half a minute ago.
      const row = s.store.project('sandbox', 'skiboot')!;
      s.store.setMark('sandbox', 'skiboot', { ...row, full_sync_at: row.full_sync_at!, event_mark: shifted(row.event_mark!, -60_000).slice(0, 19) });
      importEvents(30_000);
      let p = (await sync(s)).projects[0]!;
      expect(p.eventsRead).to.be.above(250);
      expect(markOf(s).ids).to.deep.equal([]);

      const changed = changeState('accepted');
      p = (await sync(s)).projects[0]!;
      expect([p.httpRequests, p.eventsRead]).to.deep.equal([2, 1]);
      expect(await t.tags(changed)).to.include('pw-skiboot-accepted');
      await s.close();
    });

    it('costs one request and the archive check when nothing changed, even with a window too full for a page, and loses no event of it', async () => {
      t = await makeEnv({ patches: 150, stateMix: false });
      t.writeConfig('', 'tag_bundles = off'); // these count event requests; bundles cost one listing more
      importEvents(0);
      const s = t.session();
      await sync(s); // the import's events are all in the 5 s before it
      expect(markOf(s).ids.length).to.be.above(250);
      for (let i = 0; i < 2; i++) {
        const p = (await sync(s)).projects[0]!;
        // The events page and the archive check's count.
      expect([p.mode, p.httpRequests, p.eventsRead, p.fetched]).to.deep.equal(['events', 2, 0, 0]);
      }

      // Dated in the same second as the mark.
      const same = changeState('rejected', `${markOf(s).date}.000000`);
      let p = (await sync(s)).projects[0]!;
      expect(p.fetched).to.equal(0);
      expect(await t.tags(same)).to.include('pw-skiboot-rejected');

      // Dated inside the window, committed after the sync read the log.
      const late = changeState('accepted', shifted(markOf(s).date, -2_000));
      p = (await sync(s)).projects[0]!;
      expect(await t.tags(late)).to.include('pw-skiboot-accepted');
      expect(p.fetched).to.equal(0);
      await s.close();
    });
  });
});
