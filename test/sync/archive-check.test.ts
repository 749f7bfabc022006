import { expect } from 'chai';
import { sync } from '../../server/sync/engine.js';
import { isMailTag, makeEnv, msgidOf, patchesOf, type TestEnv } from '../helpers.js';

// Patchwork makes no event for archiving, unarchiving or deleting a patch:
// each incremental sync compares the number of non-archived patches with
// the store's and, when they differ, halves the date range until a range
// holds at most a page (server/sync/archive-check.ts).

describe('archive check', function () {
  this.timeout(180_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  /** The requests since `mark`, by kind. */
  const requestsSince = (mark: number): { events: number; counts: number; pages: number; gets: number; total: number } => {
    const log = t.sandbox.log.slice(mark).map((r) => new URL(r.url, 'http://x'));
    // Lists are read at API 1.0 (LIST_API_VERSION), the count and single patches at the version in use.
    const list = log.filter((u) => /^\/api\/1\.[03]\/patches\/$/.test(u.pathname));
    return {
      events: log.filter((u) => u.pathname === '/api/1.3/events/').length,
      counts: list.filter((u) => u.searchParams.get('per_page') === '1').length,
      pages: list.filter((u) => u.searchParams.get('per_page') !== '1').length,
      gets: log.filter((u) => /^\/api\/1\.3\/patches\/\d+\/$/.test(u.pathname)).length,
      total: log.length,
    };
  };

  it('sees one patch archived, unarchived and deleted among 10,000 with requests logarithmic in the project', async () => {
    t = await makeEnv({ patches: 100 });
    // This counts event and archive-check requests: bundles (a token, no me) cost one listing more (issue 27).
    t.writeConfig('', 'tag_bundles = off');
    const data = t.sandbox.data;
    const person = data.addPerson('Bulk', 'bulk@example.org');
    for (let i = 0; i < 9900; i++) data.addPatch({ project: t.project.id, msgid: `<bulk.${i}@example.org>`, name: `bulk ${i}`, submitter: person.id, state: 'new' }, true);
    // One distinct date each, a minute apart, oldest first; none archived.
    const ids = patchesOf(t);
    expect(ids.length).to.equal(10_000);
    for (const [i, id] of ids.entries()) Object.assign(data.patches.get(id)!, { date: new Date(Date.UTC(2026, 1, 1) + i * 60_000).toISOString().slice(0, 19), archived: false });
    const s = t.session({}, { epoch: '2026-01-01' });
    await sync(s);
    await sync(s); // reads back its own tags
    // The store's side is read only for a range read from the server (at most a page), never whole.
    const storeReads: number[] = [];
    const openPatches = s.store.openPatches.bind(s.store);
    s.store.openPatches = (...args) => {
      const rows = openPatches(...args);
      storeReads.push(rows.length);
      return rows;
    };
    const oldest = ids[0]!; // its mail is here
    const msgid = msgidOf(t, oldest);
    const archivedTag = async (): Promise<string[]> => (await t.tags(msgid)).filter((x) => x === 'pw-skiboot-archived');

    // Nothing changed: the events and one count.
    let mark = t.sandbox.log.length;
    await sync(s);
    expect(requestsSince(mark)).to.deep.equal({ events: 1, counts: 1, pages: 0, gets: 0, total: 2 });
    expect(storeReads).to.deep.equal([]);

    // Archived. 10,000 against 9,999: the range with the change halves
    // 10,000 -> 5,000 -> 2,500 -> 1,250 -> 625 -> 312 -> 156 (one count per
    // split: 6), then its page is read (1), and the patch missing from it is
    // asked for (1). With the check and the events: 10.
    data.patches.get(oldest)!.archived = true;
    mark = t.sandbox.log.length;
    const p = (await sync(s)).projects[0]!;
    expect(p.mode).to.equal('events');
    expect(requestsSince(mark)).to.deep.equal({ events: 1, counts: 7, pages: 1, gets: 1, total: 10 });
    expect(await archivedTag()).to.deep.equal(['pw-skiboot-archived']);
    expect(storeReads).to.have.length(1);
    expect(storeReads[0]).to.be.within(1, 250);

    // Unarchived. The store has 9,999 (split at its median): 9,999 -> 4,999
    // -> 2,499 -> 1,249 -> 624 -> 312 -> 156, 6 counts; the page shows the
    // patch again, nothing is missing from it. 9 in all.
    data.patches.get(oldest)!.archived = false;
    mark = t.sandbox.log.length;
    await sync(s);
    expect(requestsSince(mark)).to.deep.equal({ events: 1, counts: 7, pages: 1, gets: 0, total: 9 });
    expect(await archivedTag()).to.deep.equal([]);
    expect(await t.tags(msgid)).to.include(`pw-skiboot-${data.patches.get(oldest)!.state}`);

    // Deleted: found as the archived one was, and its GET is a 404.
    data.deletePatch(oldest);
    mark = t.sandbox.log.length;
    await sync(s);
    expect(requestsSince(mark)).to.deep.equal({ events: 1, counts: 7, pages: 1, gets: 1, total: 10 });
    expect(s.store.patch('sandbox', 'skiboot', msgid)).to.equal(undefined);
    const tags = await t.tags(msgid);
    expect(tags.filter((x) => x.startsWith('pw-skiboot-') && !isMailTag(x))).to.deep.equal([]);
    expect(tags).to.include('patchwork');

    // And then nothing again.
    mark = t.sandbox.log.length;
    await sync(s);
    expect(requestsSince(mark).total).to.equal(2);
    await s.close();
  });
});
