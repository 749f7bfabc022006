import { expect } from 'chai';
import { execa } from 'execa';
import { join } from 'node:path';
import { headersOf, utilChecksThanks } from '../support/headers.js';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// `thanks` against a real Patchwork: the generator's git-made series
// imported through Patchwork's parser, applied, accepted from git (so
// Patchwork holds each patch's commit_ref), then thanked once its commits
// are on the public branch. Expected values: the cover letter the
// generator mailed, and git's own commits.

describe('real Patchwork: thanks', function () {
  this.timeout(90_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('thanks for a series accepted from git only once its commits are on origin/main, once', async () => {
    t = await makeRealEnv(pw, { patches: 1 });
    const env = t;
    const repo = join(t.dir, 'repo');
    const mails = await t.addMail({ patches: 0, git: { repo } }, 'git');
    const id = (prefix: string): string => mails.find((m) => m.msgid.startsWith(prefix))!.msgid;
    const cover = id('util-checks-0-');
    const series = ['util-checks-1-', 'util-checks-2-', 'util-checks-3-'].map(id);
    const git = async (...args: string[]): Promise<string> => (await execa('git', ['-C', repo, ...args])).stdout;
    const nm = async (...args: string[]): Promise<string> => (await execa('notmuch', args, { env: env.env })).stdout;
    const drafts = async (): Promise<string[]> => (await nm('search', '--output=messages', 'tag:draft')).split('\n').filter(Boolean);
    const thanks = () => env.cli(['thanks', '--branch', 'origin/main', '--repo', repo]);
    const base = await git('rev-parse', 'HEAD');
    await execa('git', ['init', '-q', '--bare', join(t.dir, 'origin.git')]);
    await git('remote', 'add', 'origin', join(t.dir, 'origin.git'));
    await git('push', '-q', 'origin', 'HEAD:main');
    await git('fetch', '-q', 'origin');
    t.writeConfig({ global: `\n[project ${t.link}]\ncommit_url = https://git.example.org/c/%h\n` });
    expect((await t.sync()).exitCode).to.equal(0);
    let r = await thanks();
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).to.include('first use of thanks');

    expect((await t.cli(['apply', '--repo', repo, cover])).exitCode).to.equal(0);
    r = await t.cli(['accept-from-git', '--repo', repo, `${base}..HEAD`]);
    expect(r.exitCode, r.stderr).to.equal(0);
    const commits = (await git('log', '--reverse', '--format=%H', `${base}..HEAD`)).split('\n');
    for (const [i, m] of series.entries()) {
      const p = await t.patch(m);
      expect([p.state, (p as unknown as { commit_ref: string | null }).commit_ref], m).to.deep.equal(['accepted', commits[i]]);
    }

    r = await thanks();
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout.match(/held back: .*is not on origin\/main yet/g)).to.have.length(3);
    expect(await drafts()).to.deep.equal([]);

    await git('push', '-q', 'origin', 'HEAD:main');
    await git('fetch', '-q', 'origin');
    r = await thanks();
    expect(r.exitCode, r.stderr).to.equal(0);
    const ids = await drafts();
    expect(ids).to.have.length(1);
    const raw = await nm('show', '--format=raw', ids[0]!);
    const h = headersOf(raw);
    expect(h.from).to.equal('Test <test@example.org>');
    expect(h.to).to.equal('Chloé Dévelopeur <chloe@example.fr>');
    expect(h.cc).to.equal(t.listEmail);
    expect(h['in-reply-to']).to.equal(`<${cover}>`);
    expect(h.subject).to.equal('Re: [PATCH 0/3] util-checks: series');
    expect(raw.slice(raw.indexOf('\n\n') + 2)).to.equal(utilChecksThanks(commits, 'https://git.example.org/c/'));
    for (const m of series) expect(await t.tags(m)).to.include(`pw-${t.link}-thanked`);

    r = await thanks();
    expect(r.stdout).to.include('0 replies, 0 patches held back');
    expect(await drafts()).to.have.length(1);
  });
});
