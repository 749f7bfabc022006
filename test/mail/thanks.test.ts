import { expect } from 'chai';
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate, type ApplyScenario } from '../../server/sandbox/generator.js';
import { makeEnv, patchesOf, runCli, startServe, stopServe, type TestEnv } from '../helpers.js';
import { headersOf, utilChecksThanks } from '../support/headers.js';

// `thanks` end to end: a real git repository with a bare "origin", a real
// notmuch database, the sandbox Patchwork, the CLI as its own process. The
// expected reply is written out by hand from the mails the generator sent
// (the cover letter's From, To and Cc) and from git's own commits.

describe('thanks', function () {
  this.timeout(90_000);
  let t: TestEnv;
  let scenario: ApplyScenario;
  let repo: string;
  let base: string;
  const git = async (...args: string[]): Promise<string> => (await execa('git', ['-C', repo, ...args])).stdout;
  const cli = (...args: string[]) => runCli(['-c', t.configFile, ...args], { env: t.env });
  const nm = async (...args: string[]): Promise<string> => (await execa('notmuch', args, { env: t.env })).stdout;
  const drafts = async (): Promise<string[]> => (await nm('search', '--output=messages', 'tag:draft')).split('\n').filter(Boolean);

  beforeEach(async () => {
    t = await makeEnv({ patches: 3, stateMix: false });
    repo = join(t.dir, 'repo');
    const generated = generate(t.sandbox.data, t.project, t.maildir, { patches: 0, git: { repo } });
    scenario = generated.scenario!;
    // The cover letter also went to a colleague and to me: reply-all keeps the colleague, drops me.
    const cover = generated.mails.find((m) => m.msgid === scenario.cover)!;
    writeFileSync(cover.file, readFileSync(cover.file, 'utf8').replace(/^To: (.*)$/m, 'To: $1\nCc: Dave Maintainer <dave@example.net>, Test <test@example.org>'));
    await execa('notmuch', ['new', '--quiet'], { env: t.env });
    base = await git('rev-parse', 'HEAD');
    await execa('git', ['init', '-q', '--bare', join(t.dir, 'origin.git')]);
    await git('remote', 'add', 'origin', join(t.dir, 'origin.git'));
    await git('push', '-q', 'origin', 'HEAD:main');
    await git('fetch', '-q', 'origin');
    t.writeConfig('\n[project skiboot]\ncommit_url = https://git.example.org/skiboot/c/%h\n');
  });
  afterEach(async () => t && (await t.cleanup()));

  it('thanks once for a series applied and accepted from git, only when its commits are on origin/main, with reply-all headers and one line per commit', async () => {
    expect((await cli('sync')).exitCode).to.equal(0);
    // First use: nothing accepted yet, nothing set aside.
    let r = await cli('thanks', '--branch', 'origin/main', '--repo', repo);
    expect(r.exitCode, r.all).to.equal(0);
    expect(r.stdout).to.include('first use of thanks; 0 patches accepted before it set aside');

    expect((await cli('apply', '--repo', repo, scenario.cover)).exitCode).to.equal(0);
    const accepted = await cli('accept-from-git', '--repo', repo, `${base}..HEAD`);
    expect(accepted.exitCode, accepted.all).to.equal(0);
    for (const msgid of scenario.series) expect(t.sandbox.data.patchByMsgid(t.project.id, `<${msgid}>`)!.state).to.equal('accepted');

    // The commits are only local: nothing is written, each patch is held back.
    r = await cli('thanks', '--branch', 'origin/main', '--repo', repo);
    expect(r.exitCode, r.all).to.equal(0);
    expect(r.stdout.match(/held back: .*is not on origin\/main yet/g)).to.have.length(3);
    expect(await drafts()).to.deep.equal([]);

    await git('push', '-q', 'origin', 'HEAD:main');
    await git('fetch', '-q', 'origin');
    r = await cli('thanks', '--branch', 'origin/main', '--repo', repo);
    expect(r.exitCode, r.all).to.equal(0);
    const ids = await drafts();
    expect(ids).to.have.length(1);
    const raw = await nm('show', '--format=raw', ids[0]!);
    const h = headersOf(raw);
    expect(h.from).to.equal('Test <test@example.org>');
    expect(h.to).to.equal('Chloé Dévelopeur <chloe@example.fr>');
    expect(h.cc).to.equal('skiboot@lists.ozlabs.org, Dave Maintainer <dave@example.net>');
    expect(h['in-reply-to']).to.equal(`<${scenario.cover}>`);
    expect(h.references).to.equal(`<${scenario.cover}>`);
    expect(h.subject).to.equal('Re: [PATCH 0/3] util-checks: series');
    const commits = (await git('log', '--reverse', '--format=%H', `${base}..HEAD`)).split('\n');
    expect(raw.slice(raw.indexOf('\n\n') + 2)).to.equal(utilChecksThanks(commits, 'https://git.example.org/skiboot/c/'));
    // Saved as notmuch-emacs saves a draft: in the drafts folder, tagged draft.
    expect((await nm('search', '--output=files', ids[0]!)).startsWith(join(t.maildir, 'drafts'))).to.equal(true);
    for (const msgid of scenario.series) expect(await t.tags(msgid)).to.include('pw-skiboot-thanked');
    expect(await t.tags(scenario.cover)).not.to.include('pw-skiboot-thanked');

    // Once only.
    r = await cli('thanks', '--branch', 'origin/main', '--repo', repo);
    expect(r.stdout).to.include('0 replies, 0 patches held back');
    expect(await drafts()).to.have.length(1);
  });

  it('sets aside what was accepted before its first use, unless --since names it; --mbox writes to stdout and no draft', async () => {
    expect((await cli('sync')).exitCode).to.equal(0);
    expect((await cli('apply', '--repo', repo, scenario.single)).exitCode).to.equal(0);
    expect((await cli('accept-from-git', '--repo', repo, `${base}..HEAD`)).exitCode).to.equal(0);
    await git('push', '-q', 'origin', 'HEAD:main');
    await git('fetch', '-q', 'origin');
    const dry = await cli('thanks', '--branch', 'origin/main', '--repo', repo, '--dry-run');
    expect(dry.stdout).to.include('1 patch accepted before it set aside').and.include('0 replies');
    const first = await cli('thanks', '--branch', 'origin/main', '--repo', repo);
    expect(first.stdout).to.include('1 patch accepted before it set aside').and.include('0 replies');
    const since = await cli('thanks', '--branch', 'origin/main', '--repo', repo, '--since', '2000-01-01', '--mbox');
    expect(since.exitCode, since.all).to.equal(0);
    expect(since.stdout).to.match(/^From pwnm-sync /);
    expect(headersOf(since.stdout.slice(since.stdout.indexOf('\n') + 1)).subject).to.equal('Re: [PATCH] core: start at step zero');
    expect(since.stdout).to.include('This patch was applied to origin/main, thanks!');
    expect(await drafts()).to.deep.equal([]);
    expect(await t.tags(scenario.single)).to.include('pw-skiboot-thanked');
  });

  it('sees a push that was not fetched (made by URL, as from another clone) through git ls-remote', async () => {
    expect((await cli('sync')).exitCode).to.equal(0);
    expect((await cli('thanks', '--branch', 'origin/main', '--repo', repo)).exitCode).to.equal(0);
    expect((await cli('apply', '--repo', repo, scenario.cover)).exitCode).to.equal(0);
    expect((await cli('accept-from-git', '--repo', repo, `${base}..HEAD`)).exitCode).to.equal(0);
    // Pushed by URL: origin has the commits, refs/remotes/origin/main still does not.
    await git('push', '-q', join(t.dir, 'origin.git'), 'HEAD:main');
    expect(await git('rev-parse', 'origin/main')).to.equal(base);
    const r = await cli('thanks', '--branch', 'origin/main', '--repo', repo);
    expect(r.exitCode, r.all).to.equal(0);
    expect(r.stdout).to.include('1 reply, 0 patches held back');
    expect(await drafts()).to.have.length(1);
  });

  it('names the missing setting when no public branch is configured', async () => {
    const r = await cli('thanks', '--repo', repo);
    expect(r.exitCode).to.equal(2);
    expect(r.stderr).to.include('give --branch REMOTE/BRANCH, or branch = origin/main in [project skiboot]');
  });
});

describe('thanks over JSON-RPC', function () {
  this.timeout(60_000);
  it('answers the thanks request as the CLI does: history set aside on first use, nothing written on a dry run, a bad date refused', async () => {
    const t = await makeEnv({ patches: 6 });
    const server = startServe(t);
    try {
      const accepted = patchesOf(t).filter((id) => t.sandbox.data.patches.get(id)!.state === 'accepted').length;
      await server.conn.sendRequest('initialize', {});
      await server.conn.sendRequest('sync', {});
      const r = await server.conn.sendRequest<{ drafts: unknown[]; setAside: { project: string; count: number }[] }>('thanks', { branch: 'origin/main', dryRun: true });
      expect(r).to.deep.include({ drafts: [], setAside: [{ project: 'skiboot', count: accepted }] });
      const bad = await server.conn.sendRequest('thanks', { since: 'yesterday', branch: 'origin/main' }).then(() => 'answered', (e: Error) => e.message);
      expect(bad).to.include('--since "yesterday" is not a date');
    } finally {
      await stopServe(server);
      await t.cleanup();
    }
  });
});
