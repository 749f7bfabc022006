import { expect } from 'chai';
import { sync } from '../../server/sync/engine.js';
import { UNSEEN_AT_ONCE } from '../../server/sync/remote-read.js';
import { makeEnv, patchesOf, type TestEnv } from '../helpers.js';

// A project's history can be older than the mailbox: a full sync then lists
// many patches whose mail the list's query does not find. They are looked
// up by message-id (Bcc, another alias) in batches while the listing goes
// on, not all kept until it ends.

describe('patches listed without their mail', function () {
  this.timeout(180_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  it('are looked up by message-id while the listing goes on, and none is lost', async () => {
    t = await makeEnv({ patches: 100 });
    t.writeConfig('', 'tag_bundles = off');
    const data = t.sandbox.data;
    const person = data.addPerson('Bulk', 'bulk@example.org');
    // Two and a half batches' worth of patches with no mail here.
    const missing = Math.round(2.5 * UNSEEN_AT_ONCE);
    for (let i = 0; i < missing; i++) data.addPatch({ project: t.project.id, msgid: `<bulk.${i}@example.org>`, name: `bulk ${i}`, submitter: person.id, state: 'new' }, true);
    const pageRequests = (): number => t.sandbox.log.filter((r) => /\/patches\/\?/.test(r.url) && !/per_page=1(&|$)/.test(r.url)).length;
    const s = t.session({}, { epoch: '2000-01-01' });
    // Each lookup by message-id: the pages of the list asked for so far, and how many ids it names.
    const lookups: number[] = [];
    let looked = 0;
    const dump = s.notmuch.dump.bind(s.notmuch) as (q: string, ...rest: unknown[]) => Promise<unknown>;
    (s.notmuch as { dump: unknown }).dump = (query: string, ...rest: unknown[]) => {
      if (query.startsWith('id:')) {
        lookups.push(pageRequests());
        looked += query.split(' or ').length;
      }
      return dump(query, ...rest);
    };
    const summary = await sync(s);
    const p = summary.projects[0]!;
    expect(p.mode).to.equal('full');
    expect(p.fetched).to.equal(patchesOf(t).length);
    expect(p.missingLocally).to.equal(missing);
    // Each looked up once, the first ones before the list's last page was asked for.
    expect(looked).to.equal(missing);
    expect(lookups[0]).to.be.below(pageRequests());
  });
});
