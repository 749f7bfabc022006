import { expect } from 'chai';
import { execa } from 'execa';
import { join } from 'node:path';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// apply against the real Patchwork 3.1.3: the generator's git-made patches
// and replies imported through Patchwork's own parser, the mbox Patchwork
// itself writes (trailers from the replies it stored as comments).

describe('real Patchwork: apply', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('applies a series from its cover letter and a single patch, with the trailers of the replies', async () => {
    t = await makeRealEnv(pw, { patches: 1 });
    const repo = join(t.dir, 'repo');
    const mails = await t.addMail({ patches: 0, git: { repo } }, 'git');
    const id = (prefix: string): string => mails.find((m) => m.msgid.startsWith(prefix))!.msgid;
    const git = async (...args: string[]): Promise<string> => (await execa('git', ['-C', repo, ...args])).stdout;
    const base = await git('rev-parse', 'HEAD');
    let r = await t.cli(['apply', '--repo', repo, id('util-checks-0-')]);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    expect((await git('log', '--format=%s', `${base}..HEAD`)).split('\n').reverse()).to.deep.equal(['util: check after step 20', 'util: report the check', 'hw/dev: probe before step 5']);
    const bodies = (await git('log', '--format=%B%x00', `${base}..HEAD`)).split('\0').map((b) => b.trim()).filter(Boolean).reverse();
    expect(bodies[0]).to.match(/Signed-off-by: Chloé Dévelopeur <chloe@example.fr>\nTested-by: Grace Patchsender <grace@example.org>$/);
    expect(bodies[1]).to.match(/Signed-off-by: Chloé Dévelopeur <chloe@example.fr>\nReviewed-by: Erin Reviewer <erin@example.org>\nAcked-by: Alice Maintainer <alice@example.org>$/);
    expect(await git('log', '-1', '--format=%an <%ae>')).to.equal('Chloé Dévelopeur <chloe@example.fr>');
    r = await t.cli(['apply', '--repo', repo, '--state', 'under-review', id('core-init-1-')]);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    expect(await git('log', '-1', '--format=%B')).to.include('Reviewed-by: Erin Reviewer <erin@example.org>');
    expect((await t.patch(id('core-init-1-'))).state).to.equal('under-review');
    r = await t.cli(['apply', '--repo', repo, '--series', id('dev-rework-3-')]);
    expect(r.exitCode).to.equal(1);
    expect(r.stdout).to.include('patch 2/3 "[PATCH 2/3] core: rename step 30" does not apply');
  });
});
