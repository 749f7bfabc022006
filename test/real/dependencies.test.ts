import { expect } from 'chai';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// Series dependencies on each real Patchwork: main (API 1.4) links a series
// to the one its cover letter's `Depends-on:` names; 3.1.3 and 3.2.1 only
// keep the line in the mail. Either way `apply --series --deps` applies
// both, in order. The dependent series' message-ids hold a slash.

describe('real Patchwork: series dependencies', function () {
  this.timeout(90_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('apply --series --deps applies the series it depends on first: the tree git am of both mboxes gives', async () => {
    t = await makeRealEnv(pw, { patches: 1 });
    const repo = join(t.dir, 'repo');
    const mails = await t.addMail({ patches: 0, git: { repo, dependent: true } }, 'git');
    const id = (prefix: string): string => mails.find((m) => m.msgid.startsWith(prefix))!.msgid;
    expect(id('util/more-1-')).to.include('/');
    const [base, dependent] = await Promise.all([t.patch(id('util-checks-1-')), t.patch(id('util/more-1-'))]);
    const seriesOf = async (n: number): Promise<Record<string, unknown>> => (await fetch(`${pw.url}/api/${pw.api}/series/${n}/`)).json() as Promise<Record<string, unknown>>;
    const detail = await seriesOf(dependent.series[0]!.id);
    if (pw.api === '1.4') expect(detail.dependencies).to.deep.equal([`${pw.url}/api/1.4/series/${base.series[0]!.id}/`]);
    else expect(detail).to.not.have.property('dependencies');

    // What git am of both mboxes, in order, gives.
    const git = async (dir: string, ...args: string[]): Promise<string> => (await execa('git', ['-C', dir, ...args])).stdout;
    const expected = join(t.dir, 'expected');
    await execa('git', ['clone', '-q', repo, expected]);
    for (const s of [base, dependent]) {
      const mbox = join(t.dir, `series-${s.series[0]!.id}.mbox`);
      const r = await fetch(`${pw.url}/series/${s.series[0]!.id}/mbox/`);
      expect(r.status).to.equal(200);
      writeFileSync(mbox, await r.text());
      await execa('git', ['-C', expected, '-c', 'user.name=T', '-c', 'user.email=t@example.org', 'am', '-q', mbox]);
    }

    const start = await git(repo, 'rev-parse', 'HEAD');
    const r = await t.cli(['apply', '--repo', repo, '--series', '--deps', id('util/more-1-')]);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    expect((await git(repo, 'log', '--format=%s', `${start}..HEAD`)).split('\n').reverse()).to.deep.equal([
      'util: check after step 20', 'util: report the check', 'hw/dev: probe before step 5', 'util: report only failed checks', 'hw/dev: probe once']);
    expect(await git(repo, 'rev-parse', 'HEAD^{tree}')).to.equal(await git(expected, 'rev-parse', 'HEAD^{tree}'));
    expect(r.stdout).to.include(`after the series it depends on: ${base.series[0]!.id}`);
  });
});
