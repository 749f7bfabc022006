import { expect } from 'chai';
import type { PwnmError } from '../../server/errors.js';
import { PatchworkClient } from '../../server/patchwork/client.js';
import { Sandbox } from '../../server/sandbox/server.js';

// The sandbox's mbox views against Patchwork 3.1.3's. The expected text was
// produced by the _submission_to_mbox logic of patchwork/views/utils.py
// (3.1.3 tarball) with Python's email package, for the same submission.

const EXPECTED = "From patchwork Sun Nov  1 09:05:03 2026\nContent-Type: text/plain; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\nX-Patchwork-Submitter: =?utf-8?b?Q2hsb8OpIETDqXZlbG9wZXVy?= <chloe@example.fr>\nX-Patchwork-Id: 7\nX-Patchwork-Delegate: maint@example.org\nMessage-Id: <m1@example.fr>\nX-Patchwork-Original-From: =?utf-8?q?Chlo=C3=A9_D=C3=A9velopeur_via_skiboot?=\n <skiboot@lists.ozlabs.org>\nFrom: =?utf-8?b?Q2hsb8OpIETDqXZlbG9wZXVy?= <chloe@example.fr>\nTo: skiboot@lists.ozlabs.org\nSubject: [PATCH v2 2/3] core: a rather long subject line that needs folding by\n the generator\nMIME-Version: 1.0\nDate: Sun, 01 Nov 2026 09:05:03 -0000\n\nFix the frobnicator.\n\nSigned-off-by: Chlo\u00e9 D\u00e9velopeur <chloe@example.fr>\nReviewed-by: Erin Reviewer <erin@example.org>\nacked-by: Lower Case <lower@example.org>\nTested-by: Grace <grace@example.org>\n---\n core/a.c | 1 +\n 1 file changed, 1 insertion(+)\n\ndiff --git a/core/a.c b/core/a.c\n--- a/core/a.c\n+++ b/core/a.c\n@@ -1 +1,2 @@\n a\n+b\n";

describe('sandbox mbox views', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = new Sandbox();
    await sb.start();
  });
  afterEach(() => sb.stop());

  const setup = () => {
    const d = sb.data;
    const maint = d.addUser({ username: 'maint', email: 'maint@example.org', token: 'maint-token-0123456789' });
    const other = d.addUser({ username: 'other', token: 'other-token-0123456789' });
    const project = d.addProject({ link_name: 'skiboot', list_email: 'skiboot@lists.ozlabs.org', maintainers: [maint.id] });
    const chloe = d.addPerson('Chloé Dévelopeur', 'chloe@example.fr');
    const erin = d.addPerson('Erin Reviewer', 'erin@example.org');
    const series = d.addSeries({ project: project.id, name: 'core: frob', version: 2, date: '2026-11-01T09:00:00', total: 3, submitter: chloe.id, cover: null });
    for (let i = 1; i <= 5; i++) d.addPatch({ project: project.id, msgid: `<filler${i}@x>`, name: 'filler', submitter: chloe.id }, true);
    const first = d.addPatch({ project: project.id, msgid: '<m0@example.fr>', name: '[v2,1/3] core: first', submitter: chloe.id, date: '2026-11-01T09:00:00', series: series.id, number: 1, content: 'First.', diff: 'diff --git a/x b/x\n', headers: { 'Message-Id': '<m0@example.fr>', Subject: '[PATCH v2 1/3] core: first' } }, true);
    const patch = d.addPatch({
      project: project.id, msgid: '<m1@example.fr>', name: '[v2,2/3] core: a rather long subject line', submitter: chloe.id, delegate: maint.id,
      date: '2026-11-01T09:05:03', series: series.id, number: 2,
      content: 'Fix the frobnicator.\n\nSigned-off-by: Chloé Dévelopeur <chloe@example.fr>\n---\n core/a.c | 1 +\n 1 file changed, 1 insertion(+)\n\n',
      diff: 'diff --git a/core/a.c b/core/a.c\n--- a/core/a.c\n+++ b/core/a.c\n@@ -1 +1,2 @@\n a\n+b\n',
      headers: {
        'Message-Id': '<m1@example.fr>', From: '=?utf-8?q?Chlo=C3=A9_D=C3=A9velopeur_via_skiboot?= <skiboot@lists.ozlabs.org>', To: 'skiboot@lists.ozlabs.org',
        Subject: '[PATCH v2 2/3] core: a rather long subject line that needs folding by the generator', 'MIME-Version': '1.0',
        'Content-Type': 'text/plain; charset="utf-8"', 'Content-Transfer-Encoding': '8bit',
      },
    }, true);
    expect(patch.id).to.equal(7);
    d.addComment({ patch: 7, cover: null, msgid: '<r1@x>', date: '2026-11-02T00:00:00', submitter: erin.id, content: 'On Mon, someone wrote:\n> Signed-off-by: quoted <q@x>\n\nReviewed-by: Erin Reviewer <erin@example.org>\nacked-by: Lower Case <lower@example.org>\n' });
    d.addComment({ patch: 7, cover: null, msgid: '<r2@x>', date: '2026-11-02T00:00:00', submitter: erin.id, content: 'Looks fine.\nTested-by: Grace <grace@example.org>\n' });
    return { first, patch, series, maint, other };
  };

  it('serves a patch mbox as Patchwork 3.1.3 writes it', async () => {
    setup();
    const res = await fetch(`${sb.url}/project/skiboot/patch/m1@example.fr/mbox/`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
    expect(res.headers.get('content-disposition')).to.equal('attachment; filename=v2-2-3-core-a-rather-long-subject-line.patch');
    expect(await res.text()).to.equal(EXPECTED);
  });

  it('adds dependencies with ?series=, serves series and bundles, and links them from the API', async () => {
    const { first, series, maint, other } = setup();
    const deps = await (await fetch(`${sb.url}/project/skiboot/patch/m1@example.fr/mbox/?series=*`)).text();
    expect(deps.split(/^From patchwork /m).length).to.equal(3);
    expect(deps.indexOf('X-Patchwork-Id: 7')).to.be.greaterThan(deps.indexOf(`X-Patchwork-Id: ${first.id}`));
    expect((await fetch(`${sb.url}/project/skiboot/patch/m1@example.fr/mbox/?series=99`)).status).to.equal(404);
    const whole = await fetch(`${sb.url}/series/${series.id}/mbox/`);
    expect(whole.headers.get('content-type')).to.equal('text/plain');
    expect(await whole.text()).to.equal(deps);
    expect((await fetch(`${sb.url}/series/${series.id}/mbox`, { redirect: 'manual' })).status).to.equal(301);
    const api = await (await fetch(`${sb.url}/api/1.3/patches/7/`)).json() as { mbox: string; series: { mbox: string }[] };
    expect(api.mbox).to.equal(`${sb.url}/project/skiboot/patch/m1@example.fr/mbox/`);
    expect(api.series[0]!.mbox).to.equal(`${sb.url}/series/${series.id}/mbox/`);
    sb.data.addBundle({ owner: maint.id, name: 'todo', public: false, patches: [7, first.id] });
    const bundle = `${sb.url}/bundle/maint/todo/mbox/`;
    expect((await fetch(bundle)).status).to.equal(404);
    // The client sends its token for a bundle, in the header, and only to its own instance.
    const client = new PatchworkClient({ instance: 'sb', url: sb.url, token: maint.token, retries: 0 });
    try {
      expect(await client.download(bundle, { auth: true })).to.match(/^From patchwork /);
      const err = await client.download(bundle).catch((e: PwnmError) => e);
      expect(err).to.have.property('code', 'NOT_FOUND');
      const elsewhere = bundle.replace('127.0.0.1', 'localhost');
      expect(await client.download(elsewhere, { auth: true }).catch((e: PwnmError) => e.code)).to.equal('NOT_FOUND');
    } finally {
      await client.close();
    }
    expect(sb.log.filter((l) => l.url.includes('/bundle/')).map((l) => l.auth)).to.deep.equal([false, true, false, false]);
    expect(sb.log.some((l) => l.url.includes(maint.token!))).to.equal(false);
    expect((await fetch(bundle, { headers: { authorization: `Token ${other.token}` } })).status).to.equal(404);
    const mine = await fetch(bundle, { headers: { authorization: `Token ${maint.token}` } });
    expect(mine.status).to.equal(200);
    // In the bundle's order, not the series'.
    expect([...(await mine.text()).matchAll(/^X-Patchwork-Id: (\d+)$/gm)].map((m) => Number(m[1]))).to.deep.equal([7, first.id]);
  });
});
