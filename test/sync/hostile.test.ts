import { expect } from 'chai';
import { sync } from '../../server/sync/engine.js';
import { tagWord } from '../../server/tags.js';
import { notmuchMessageId } from '../../server/mail/message-id.js';
import { idQuery } from '../../server/notmuch/encoding.js';
import { isMailTag, makeEnv, msgidOf, patchesOf, type TestEnv } from '../helpers.js';

// Message-ids and state slugs from the server are data, never syntax: none
// may tag another message, inject a query, or add other tags.

const HOSTILE_IDS = [
  ['quo"te@x', 'quo"te@x'],
  ['sp ace@x', 'space@x'],
  ['par(en)thesis@x', 'par(en)thesis@x'],
  ['pct%41%20@x', 'pct%41%20@x'],
  ['non-ascii-é€@x', 'non-ascii-é€@x'],
  ['a) or (tag:inbox@x', 'a)or(tag:inbox@x'],
  ['-- +inbox *@x', '--+inbox*@x'],
  [`${'long'.repeat(60)}@x`, 'notmuch-sha1-8e588b1307286485b145fa1e9ae804dcb898e662'],
] as const;

describe('hostile input', function () {
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  it('tags exactly the right message for message-ids with quotes, spaces, parentheses, %, non-ASCII, -- and *', async () => {
    t = await makeEnv({ patches: 5 });
    for (const [i, [pw, nm]] of HOSTILE_IDS.entries()) {
      t.sandbox.data.addPatch({ project: t.project.id, msgid: `<${pw}>`, name: `hostile ${i}`, submitter: 1, date: '2026-11-01T00:00:00', state: i % 2 ? 'accepted' : 'rfc' }, true);
      await t.addMail(pw, { date: new Date('2026-11-01T00:00:00Z') });
      expect(await t.notmuch.count([idQuery(notmuchMessageId(`<${pw}>`))]), nm).to.deep.equal([1]);
    }
    const s = t.session();
    const p = (await sync(s)).projects[0]!;
    expect(p.errors).to.deep.equal([]);
    expect(p.missingLocally).to.equal(0);
    for (const [i, [, nm]] of HOSTILE_IDS.entries()) {
      expect(await t.tags(nm), nm).to.include(i % 2 ? 'pw-skiboot-accepted' : 'pw-skiboot-rfc');
    }
    // 5 generated patches + the hostile ones, and nothing else.
    expect(await t.notmuch.count(['tag:patchwork', 'tag:patchwork and subject:Re'])).to.deep.equal([5 + HOSTILE_IDS.length, 0]);
    // And local changes to them go back out.
    const [, nm] = HOSTILE_IDS[0];
    await t.notmuch.tag([{ msgid: nm, add: ['pw-skiboot-under-review'], remove: ['pw-skiboot-rfc'] }]);
    expect((await sync(s)).projects[0]!.pushed).to.equal(1);
    expect([...t.sandbox.data.patches.values()].find((x) => x.msgid === '<quo"te@x>')!.state).to.equal('under-review');
    await s.close();
  });

  it('turns odd state slugs from a misbehaving server into safe tags', async () => {
    t = await makeEnv({ patches: 6 });
    const slugs = ['x" -- +inbox', 'needs (ack)', 'état', '*'];
    t.sandbox.states.push(...slugs);
    const ids = patchesOf(t);
    slugs.forEach((slug, i) => { t.sandbox.data.patches.get(ids[i]!)!.state = slug; });
    const s = t.session();
    await sync(s);
    for (const [i, slug] of slugs.entries()) {
      const tags = await t.tags(msgidOf(t, ids[i]!));
      expect(tags).to.include(`pw-skiboot-${tagWord(slug)}`);
      expect(tags.filter((x) => x.startsWith('pw-skiboot-') && !isMailTag(x))).to.have.length(1);
    }
    expect(await t.notmuch.count(['tag:patchwork'])).to.deep.equal([6]);
    // Leaving an odd state goes back out as an ordinary push.
    const msgid = msgidOf(t, ids[1]!);
    await t.notmuch.tag([{ msgid, add: ['pw-skiboot-accepted'], remove: [`pw-skiboot-${tagWord('needs (ack)')}`] }]);
    expect((await sync(s)).projects[0]!.pushed).to.equal(1);
    expect(t.sandbox.data.patches.get(ids[1]!)!.state).to.equal('accepted');
    await s.close();
  });
});
