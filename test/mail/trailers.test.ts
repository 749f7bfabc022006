import { expect } from 'chai';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTrailers } from '../../server/mail/trailers.js';
import type { TagChange } from '../../server/notmuch/encoding.js';
import { counts } from '../../server/ops/counts.js';
import { patchInfo } from '../../server/ops/info.js';
import { makeEnv, runCli, type TestEnv } from '../helpers.js';

// Review trailers as tags, end to end: the sandbox Patchwork, a real notmuch
// database, mail written by hand as list members would send it. Expected
// tags come from the issue (and b4's rules, DESIGN §8): a trailer counts
// when its address is its sender's and not the patch author's; a reply to a
// cover letter counts for every patch under it; -replied when I (the
// notmuch user, test@example.org) wrote in the thread.

const ALICE = 'Alice Author <alice@example.com>';
const BOB = 'Bob Builder <bob@example.com>';
const THIRD = 'Tina Third <tina@example.net>';
const REVIEWER = 'Rita Reviewer <rita@example.net>';
const TESTER = 'Theo Tester <theo@example.net>';
const ME = 'Test <test@example.org>';

describe('trailers', function () {
  this.timeout(120_000);
  let t: TestEnv;
  let serial = 0;
  const cli = (...args: string[]) => runCli(['-c', t.configFile, ...args], { env: t.env });

  /** One mail into the maildir (notmuch new is the caller's). */
  function mail(msgid: string, from: string, subject: string, body: string, parent?: string): void {
    const date = new Date(Date.UTC(2026, 10, 1, 0, ++serial)).toUTCString().replace('GMT', '+0000');
    const threading = parent ? `In-Reply-To: <${parent}>\nReferences: <${parent}>\n` : '';
    writeFileSync(join(t.maildir, 'cur', `hand.${serial}:2,S`), `From: ${from}\nTo: skiboot@lists.ozlabs.org\nSubject: ${subject}\nDate: ${date}\nMessage-ID: <${msgid}>\n${threading}\n${body}\n`);
  }
  /** A patch mail and its Patchwork row. */
  function patch(msgid: string, from: string, subject: string, parent?: string, row: { state?: string; delegate?: number } = {}): void {
    mail(msgid, from, subject, `Do it.\n\nSigned-off-by: ${from}\n---\n a.c | 1 +\n`, parent);
    const [name, email] = [from.split(' <')[0]!, from.replace(/.*<|>/g, '')];
    const person = t.sandbox.data.addPerson(name, email);
    t.sandbox.data.addPatch({ project: t.project.id, msgid: `<${msgid}>`, name: subject, submitter: person.id, state: row.state ?? 'new', delegate: row.delegate ?? null }, true);
  }
  const notmuchNew = () => execa('notmuch', ['new', '--quiet'], { env: t.env });
  /** Every patch's review tags (acked, reviewed, tested, replied), by message-id. */
  async function reviewTags(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const [msgid, tags] of await t.notmuch.dump('tag:pw-skiboot')) out[msgid] = tags.filter((x) => /^pw-skiboot-(acked|reviewed|tested|replied)$/.test(x)).sort();
    return out;
  }

  beforeEach(async () => {
    t = await makeEnv({ patches: 0 });
    t.writeConfig('me = maint\n');
    // A series of Alice's: cover letter, three patches.
    mail('s1-0@example.com', ALICE, '[PATCH 0/3] core: faster', 'This series makes core faster.');
    patch('s1-1@example.com', ALICE, '[PATCH 1/3] core: one', 's1-0@example.com');
    patch('s1-2@example.com', ALICE, '[PATCH 2/3] core: two', 's1-0@example.com');
    patch('s1-3@example.com', ALICE, '[PATCH 3/3] core: three', 's1-0@example.com');
    // Bob's single patch, which I answer; Bob's other patch, delegated to someone else; one accepted; one delegated to me.
    patch('b1@example.com', BOB, '[PATCH] hw: fix', undefined);
    patch('b2@example.com', BOB, '[PATCH] hw: other', undefined, { delegate: t.user.id });
    patch('b3@example.com', BOB, '[PATCH] hw: done', undefined, { state: 'accepted' });
    patch('b4@example.com', BOB, '[PATCH] hw: mine', undefined, { delegate: t.maint.id });

    // Third party acks patch 1.
    mail('r1@example.net', THIRD, 'Re: [PATCH 1/3] core: one', `> Do it.\n\nAcked-by: ${THIRD}`, 's1-1@example.com');
    // A review of the whole series, as a reply to the cover letter.
    mail('r2@example.net', REVIEWER, 'Re: [PATCH 0/3] core: faster', `Looks good.\n\nReviewed-by: ${REVIEWER}`, 's1-0@example.com');
    // A Tested-by naming someone other than its sender: b4 does not count it.
    mail('r3@example.net', TESTER, 'Re: [PATCH 2/3] core: two', 'Tested-by: Someone Else <else@example.net>', 's1-2@example.com');
    // The author answers, acking his own patch: never counts.
    mail('r4@example.com', ALICE, 'Re: [PATCH 3/3] core: three', `Thanks.\n\nAcked-by: ${ALICE}\nTested-by: ${ALICE}`, 's1-3@example.com');
    // A quoted trailer is someone else's words.
    mail('r5@example.net', TESTER, 'Re: [PATCH 3/3] core: three', `> Tested-by: ${TESTER}\n\nOops.`, 's1-3@example.com');
    // My reply to Bob's patch.
    mail('r6@example.org', ME, 'Re: [PATCH] hw: fix', 'Why?', 'b1@example.com');
    await notmuchNew();
  });
  afterEach(async () => t && (await t.cleanup()));

  it('tags exactly the trailers that count, on exactly their patches, and counts what needs my review', async () => {
    const r = await cli('--json', 'sync');
    expect(r.exitCode, r.all).to.equal(0);
    // Written by hand from the rules above.
    expect(await reviewTags()).to.deep.equal({
      's1-1@example.com': ['pw-skiboot-acked', 'pw-skiboot-reviewed'],
      's1-2@example.com': ['pw-skiboot-reviewed'],
      's1-3@example.com': ['pw-skiboot-reviewed'],
      'b1@example.com': ['pw-skiboot-replied'],
      'b2@example.com': [],
      'b3@example.com': [],
      'b4@example.com': [],
    });
    // New and not delegated elsewhere and not replied by me: the series, and b4 (delegated to me).
    const s = t.session();
    const [c] = await counts(s);
    expect(c!.needsMyReview.count).to.equal(4);
    const listed = (await execa('notmuch', ['search', '--output=messages', '--', c!.needsMyReview.query], { env: t.env })).stdout.split('\n').sort();
    expect(listed).to.deep.equal(['id:b4@example.com', 'id:s1-1@example.com', 'id:s1-2@example.com', 'id:s1-3@example.com']);
    // Y i (patchInfo) says the same for one patch.
    expect((await patchInfo(s, 's1-1@example.com'))[0]!.review).to.deep.equal({ tags: ['acked', 'reviewed'], needsMyReview: true });
    expect((await patchInfo(s, 'b1@example.com'))[0]!.review).to.deep.equal({ tags: ['replied'], needsMyReview: false });
    expect((await patchInfo(s, 'b2@example.com'))[0]!.review).to.deep.equal({ tags: [], needsMyReview: false });
    await s.close();
  });

  it('reads again only the threads with new mail, and makes no tag call when nothing is new; the post-new hook\'s sync tags too', async () => {
    expect((await cli('sync')).exitCode).to.equal(0);
    const s = t.session();
    const tagCalls: TagChange[][] = [];
    const tag = s.notmuch.tag.bind(s.notmuch);
    s.notmuch.tag = async (changes) => { tagCalls.push([...changes]); await tag(changes); };
    // Nothing new since the sync.
    let run = await runTrailers(s);
    expect([run.mode, run.threads, run.changes.length, tagCalls.length]).to.deep.equal(['nothing new', 0, 0, 0]);

    // A Tested-by on patch 2, by its sender: only that thread is read again, not a new thread
    // without patch mail; and no query expands a subquery over every patch mail (41 s at a million).
    mail('r7@example.net', TESTER, 'Re: [PATCH 2/3] core: two', `Works here.\n\nTested-by: ${TESTER}`, 's1-2@example.com');
    mail('q1@example.net', THIRD, 'A question', 'Tested-by: nobody <nobody@example.net>');
    await notmuchNew();
    const queries: string[] = [];
    const eachThread = s.notmuch.eachThread.bind(s.notmuch);
    s.notmuch.eachThread = (query, onThread) => { queries.push(query); return eachThread(query, onThread); };
    run = await runTrailers(s);
    expect(run.mode).to.equal('changed');
    expect(run.threads).to.equal(1);
    expect(queries).to.have.length.above(0);
    expect(queries.filter((q) => q.includes('thread:"{'))).to.deep.equal([]);
    expect(run.changes.map((c) => [c.msgid, c.add, c.remove])).to.deep.equal([['s1-2@example.com', ['pw-skiboot-tested'], []]]);
    expect(tagCalls.length).to.equal(1);
    // And once more: nothing.
    run = await runTrailers(s);
    expect([run.mode, tagCalls.length]).to.deep.equal(['nothing new', 1]);
    await s.close();

    // The hook runs sync --local-only: a new ack on Bob's patch is tagged there.
    mail('r8@example.net', THIRD, 'Re: [PATCH] hw: other', `Acked-by: ${THIRD}`, 'b2@example.com');
    await notmuchNew();
    const local = await cli('--json', 'sync', '--local-only');
    expect(local.exitCode, local.all).to.equal(0);
    expect((JSON.parse(local.stdout) as { trailers: { threads: number } }).trailers.threads).to.equal(1);
    expect(await t.tags('b2@example.com')).to.include('pw-skiboot-acked');
  });

  /** Every message-id in `notmuch show` JSON. */
  function shownIds(threads: unknown[]): string[] {
    const out: string[] = [];
    const walk = (nodes: unknown): void => {
      for (const [m, below] of nodes as [{ id: string } | null, unknown][]) {
        if (m) out.push(m.id);
        walk(below);
      }
    };
    threads.forEach(walk);
    return out;
  }

  it('a whole pass shows a bounded number of threads per notmuch show and tags in bounded batches', async () => {
    expect((await cli('sync')).exitCode).to.equal(0);
    const before = await reviewTags();
    // Every review tag off again: the whole pass must put each back.
    await t.notmuch.tag(Object.entries(before).map(([msgid, tags]) => ({ msgid, add: [], remove: tags })));
    const s = t.session();
    const shows: string[][] = [];
    const tagCalls: TagChange[][] = [];
    const show = s.notmuch.showThreads.bind(s.notmuch);
    s.notmuch.showThreads = async (q) => { const r = await show(q); shows.push(shownIds(r)); return r; };
    const tag = s.notmuch.tag.bind(s.notmuch);
    s.notmuch.tag = async (changes) => { tagCalls.push([...changes]); await tag(changes); };
    const run = await runTrailers(s, { full: true, threadChunk: 1, tagBatch: 2 });
    await s.close();
    expect(await reviewTags()).to.deep.equal(before);
    // The series' thread and Bob's with my reply: one show each, one thread each.
    expect(run.threads).to.equal(2);
    expect(shows.map((ids) => ids.some((id) => id.startsWith('s1-')) !== ids.some((id) => id.startsWith('b1')))).to.deep.equal([true, true]);
    // Four patches to retag: b1 (its thread is listed first), written at once by the idle writer;
    // then the series' 1/3, 2/3, 3/3, two to a batch.
    expect(tagCalls.map((c) => c.length)).to.deep.equal([1, 2, 1]);
  });

  it('a whole pass reads only threads where a review tag can change: a stale tag on a patch-only thread goes, others are not read', async () => {
    expect((await cli('sync')).exitCode).to.equal(0);
    // b3's thread holds b3 alone: no reply gives it an ack, so the tag is stale.
    await t.notmuch.tag([{ msgid: 'b3@example.com', add: ['pw-skiboot-acked'], remove: [] }]);
    const s = t.session();
    const shown: string[] = [];
    const show = s.notmuch.showThreads.bind(s.notmuch);
    s.notmuch.showThreads = async (q) => { const r = await show(q); shown.push(...shownIds(r)); return r; };
    const run = await runTrailers(s, { full: true });
    await s.close();
    expect(run.changes.map((c) => [c.msgid, c.add, c.remove])).to.deep.equal([['b3@example.com', [], ['pw-skiboot-acked']]]);
    expect(await t.tags('b3@example.com')).to.not.include('pw-skiboot-acked');
    // Read: the series (replies, a cover letter), b1 (my reply), b3 (a review tag); not b2 and b4, patches alone.
    expect(run.threads).to.equal(3);
    expect(shown).to.include.members(['s1-0@example.com', 'b1@example.com', 'b3@example.com']);
    expect(shown).to.not.include.members(['b2@example.com']);
    expect(shown).to.not.include.members(['b4@example.com']);
  });

  it('trailers --dry-run lists the changes and tags nothing', async () => {
    expect((await cli('sync', '--local-only')).exitCode).to.equal(0); // no Patchwork rows yet: nothing is patch mail
    expect((await cli('sync')).exitCode).to.equal(0);
    mail('r9@example.net', THIRD, 'Re: [PATCH] hw: done', `Acked-by: ${THIRD}`, 'b3@example.com');
    await notmuchNew();
    const dry = await cli('trailers', '--dry-run');
    expect(dry.exitCode, dry.all).to.equal(0);
    expect(dry.stdout).to.contain('id:b3@example.com (skiboot): +pw-skiboot-acked');
    expect(await t.tags('b3@example.com')).to.not.include('pw-skiboot-acked');
    const wet = await cli('trailers');
    expect(wet.stdout, wet.all).to.contain('retagged 1 patch');
    expect(await t.tags('b3@example.com')).to.include('pw-skiboot-acked');
  });
});
