import { expect } from 'chai';
import { execa } from 'execa';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPatches } from '../../server/git/apply.js';
import { generate, type ApplyScenario } from '../../server/sandbox/generator.js';
import { makeEnv, runCli, startServe, stopServe, type Served, type TestEnv } from '../helpers.js';

// `apply` against a real git repository that the mail generator built, with
// patches it made by git against it (so they really apply), the sandbox
// Patchwork serving their mbox files as 3.1.3 does, and a real notmuch.
// Expected trailers are what the generated replies say (Patchwork appends
// every Reviewed-by/Acked-by/Tested-by line of a patch's replies).

describe('apply', function () {
  this.timeout(60_000);
  let t: TestEnv;
  let scenario: ApplyScenario;
  let repo: string;
  let server: Served | undefined;
  let base: string;

  const git = async (...args: string[]): Promise<string> => (await execa('git', ['-C', repo, ...args])).stdout;
  const subjects = async (): Promise<string[]> => (await git('log', '--format=%s', `${base}..HEAD`)).split('\n').filter(Boolean).reverse();
  const bodies = async (): Promise<string[]> => (await git('log', '--format=%B%x00', `${base}..HEAD`)).split('\0').map((b) => b.trim()).filter(Boolean).reverse();
  const mboxDir = (): string => join(t.dir, 'mbox');
  const cli = (...args: string[]) => runCli(['-c', t.configFile, 'apply', '--repo', repo, ...args], { env: t.env });
  const inAm = (): boolean => existsSync(join(repo, '.git', 'rebase-apply', 'applying'));
  const state = (msgid: string): string => t.sandbox.data.patchByMsgid(t.project.id, `<${msgid}>`)!.state;

  beforeEach(async () => {
    t = await makeEnv({ patches: 3 });
    repo = join(t.dir, 'repo');
    scenario = generate(t.sandbox.data, t.project, t.maildir, { patches: 0, git: { repo } }).scenario!;
    await execa('notmuch', ['new', '--quiet'], { env: t.env });
    base = await git('rev-parse', 'HEAD');
  });
  afterEach(async () => {
    if (server) await stopServe(server);
    server = undefined;
    await t.cleanup();
  });

  it('applies a single patch with the trailer of its reply, and removes the mbox it kept', async () => {
    const r = await cli(scenario.single);
    expect(r.exitCode, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.include('applied 1 patch');
    expect(await subjects()).to.deep.equal(['core: start at step zero']);
    expect((await bodies())[0]).to.include('Signed-off-by: Bob Hacker <bob@example.com>\nReviewed-by: Erin Reviewer <erin@example.org>');
    expect(await git('log', '-1', '--format=%an <%ae>')).to.equal('Bob Hacker <bob@example.com>');
    expect(readdirSync(mboxDir())).to.deep.equal([]);
    expect(await git('status', '--porcelain')).to.equal('');
    // A patch's mbox is a public view: fetched without the token, which is never in a URL.
    const downloads = t.sandbox.log.filter((l) => l.url.includes('/mbox/'));
    expect(downloads.map((l) => [l.url, l.auth])).to.deep.equal([[`/project/skiboot/patch/${scenario.single}/mbox/`, false]]);
    expect(t.sandbox.log.some((l) => l.url.includes(t.maint.token))).to.equal(false);
  });

  it('applies into the repo of the [project NAME] section, and names file:line for a bad one', async () => {
    t.writeConfig(`\n[project skiboot]\nrepo = ${repo}\n`);
    const r = await runCli(['-c', t.configFile, 'apply', scenario.single], { env: t.env, cwd: t.dir });
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(await subjects()).to.deep.equal(['core: start at step zero']);
    t.writeConfig(`\n[project skiboot]\nrepo = ${repo}\n[project nope]\nrepo = /tmp\n`);
    const bad = await runCli(['-c', t.configFile, 'apply', scenario.single], { env: t.env });
    expect(bad.exitCode).to.equal(2);
    expect(bad.stderr, bad.stderr).to.include(`${t.configFile}:11: [project nope] is not in any sync setting (configured: skiboot)`);
    t.writeConfig(`\n[project skiboot]\nrpeo = ${repo}\n`);
    const typo = await runCli(['-c', t.configFile, 'apply', scenario.single], { env: t.env });
    expect(typo.exitCode).to.equal(2);
    expect(typo.stderr).to.include(`${t.configFile}:10: unknown key "rpeo" in [project skiboot]; known keys: repo`);
  });

  it('applies a 3-patch series from any of its messages, and from its cover letter, with every reply trailer', async () => {
    const expected = ['util: check after step 20', 'util: report the check', 'hw/dev: probe before step 5'];
    for (const msgid of [...scenario.series, scenario.cover]) {
      await git('reset', '-q', '--hard', base);
      const s = t.session();
      try {
        // A cover letter means its series without --series.
        const r = await applyPatches(s, { messageId: msgid, series: msgid !== scenario.cover, repo });
        expect(r.outcome, msgid).to.equal('applied');
        expect(r.what).to.equal('series');
      } finally {
        await s.close();
      }
      expect(await subjects(), msgid).to.deep.equal(expected);
    }
    const b = await bodies();
    expect(b[0]).to.match(/Signed-off-by: Chloé Dévelopeur <chloe@example.fr>\nTested-by: Grace Patchsender <grace@example.org>$/);
    expect(b[1]).to.match(/Signed-off-by: Chloé Dévelopeur <chloe@example.fr>\nReviewed-by: Erin Reviewer <erin@example.org>\nAcked-by: Alice Maintainer <alice@example.org>$/);
    expect(b[2]).to.match(/Signed-off-by: Chloé Dévelopeur <chloe@example.fr>$/);
    // The cover letter's Acked-by stays with the cover letter (3.1.3 puts only patches in a series mbox).
    expect(b.join('\n')).not.to.include('Bob Hacker');
    expect(await git('log', '-1', '--format=%an')).to.equal('Chloé Dévelopeur');
  });

  it('--bundle applies your private bundle in its order, its mbox fetched with the token', async () => {
    t.writeConfig('me = maint\n');
    expect((await runCli(['-c', t.configFile, 'sync'], { env: t.env })).exitCode).to.equal(0);
    // The bundle's order: the series, then the single patch.
    const add = await runCli(['-c', t.configFile, 'bundle', 'add', 'to-apply', ...scenario.series, scenario.single], { env: t.env });
    expect(add.exitCode, add.stderr).to.equal(0);
    const r = await cli('--bundle', 'to-apply');
    expect(r.exitCode, r.stderr + r.stdout).to.equal(0);
    expect(await subjects()).to.deep.equal(['util: check after step 20', 'util: report the check', 'hw/dev: probe before step 5', 'core: start at step zero']);
    const downloads = t.sandbox.log.filter((l) => l.url.includes('/mbox/'));
    expect(downloads.map((l) => [l.url, l.auth])).to.deep.equal([['/bundle/maint/to-apply/mbox/', true]]);
    // A bundle goes as it is; a message-id and a bundle together, or --series with one, are refused.
    for (const args of [['--bundle', 'to-apply', scenario.single], ['--bundle', 'to-apply', '--series'], ['--bundle', 'nothing-here']]) {
      const bad = await cli(...args);
      expect(bad.exitCode, args.join(' ')).to.not.equal(0);
    }
    expect((await cli('--bundle', 'nothing-here')).stderr).to.include('no bundle nothing-here that you can see');
  });

  it('refuses a dirty tree and an am in progress, naming the command that fixes it', async () => {
    writeFileSync(join(repo, 'core', 'init.c'), 'changed\n');
    let r = await cli(scenario.single);
    expect(r.exitCode).to.equal(1);
    expect(r.stderr).to.include('has uncommitted changes (core/init.c)').and.include('git stash');
    expect(await git('rev-parse', 'HEAD')).to.equal(base);
    await git('checkout', '--', '.');

    await cli('--series', scenario.conflict[0]!);
    expect(inAm()).to.equal(true);
    r = await cli(scenario.single);
    expect(r.exitCode).to.equal(1);
    expect(r.stderr).to.include('a git am is already in progress').and.include('git am --continue').and.include('git am --abort');
    expect(await subjects()).to.deep.equal(['hw/dev: drop step 50']);
  });

  it('stops a conflicting series at the patch that fails, in git am state, with the rest queued', async () => {
    const r = await cli('--series', scenario.conflict[1]!);
    expect(r.exitCode).to.equal(1);
    expect(r.stdout).to.include('patch 2/3 "[PATCH 2/3] core: rename step 30" does not apply');
    expect(r.stdout).to.include('git am --continue').and.include('git am --skip').and.include('git am --abort');
    expect(await subjects()).to.deep.equal(['hw/dev: drop step 50']);
    expect(inAm()).to.equal(true);
    expect(await git('am', '--show-current-patch=raw')).to.include('Subject: [PATCH 2/3] core: rename step 30');
    // The mbox stays until an apply succeeds.
    expect(readdirSync(mboxDir())).to.deep.equal([`skiboot-series-${t.sandbox.data.patchByMsgid(t.project.id, `<${scenario.conflict[0]}>`)!.series}.mbox`]);
    // git am holds the rest of the series: skipping the failed patch applies the third.
    await git('am', '--skip');
    expect(await subjects()).to.deep.equal(['hw/dev: drop step 50', 'hw/dev: drop step 40']);
    expect(inAm()).to.equal(false);
  });

  it('--3way merges a patch whose context has changed since, where plain git am stops', async () => {
    const file = join(repo, 'core', 'init.c');
    writeFileSync(file, readFileSync(file, 'utf8').replace('\tstep_init(5);', '\tstep_init(5); /* five */'));
    await git('commit', '-q', '-am', 'core: note step five');
    base = await git('rev-parse', 'HEAD');
    let r = await cli(scenario.single);
    expect(r.exitCode).to.equal(1);
    expect(r.stdout).to.include('patch 1/1 "[PATCH] core: start at step zero" does not apply');
    await git('am', '--abort');
    r = await cli('--3way', scenario.single);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    expect(await subjects()).to.deep.equal(['core: start at step zero']);
    expect(readFileSync(file, 'utf8')).to.include('\tstep_init(0);\n\tstep_init(4);\n\tstep_init(5); /* five */');
  });

  it('--dry-run checks on a temporary worktree and changes nothing', async () => {
    const before = [await git('rev-parse', 'HEAD'), await git('status', '--porcelain'), await git('worktree', 'list'), await git('for-each-ref')];
    const s = t.session();
    try {
      const ok = await applyPatches(s, { messageId: scenario.cover, repo, dryRun: true, state: 'under-review' });
      expect(ok.outcome).to.equal('checked');
      expect(ok.patches.map((p) => p.outcome)).to.deep.equal(['checked', 'checked', 'checked']);
      const bad = await applyPatches(s, { messageId: scenario.conflict[0]!, series: true, repo, dryRun: true });
      expect(bad.outcome).to.equal('conflict');
      expect(bad.failed!.index).to.equal(2);
    } finally {
      await s.close();
    }
    expect([await git('rev-parse', 'HEAD'), await git('status', '--porcelain'), await git('worktree', 'list'), await git('for-each-ref')]).to.deep.equal(before);
    expect(inAm()).to.equal(false);
    expect(readdirSync(mboxDir())).to.deep.equal([]);
    expect(state(scenario.series[0]!)).to.equal('new');
  });

  it('--state sets the state only after a clean apply', async () => {
    let r = await cli('--series', '--state', 'under-review', scenario.conflict[0]!);
    expect(r.exitCode).to.equal(1);
    expect(scenario.conflict.map(state)).to.deep.equal(['new', 'new', 'new']);
    await git('am', '--abort');
    await git('reset', '-q', '--hard', base);
    r = await cli('--series', '--state', 'under-review', scenario.series[2]!);
    expect(r.exitCode, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.include('state under-review: 3 pushed');
    expect(scenario.series.map(state)).to.deep.equal(['under-review', 'under-review', 'under-review']);
    expect(await t.tags(scenario.series[0]!)).to.include('pw-skiboot-under-review');
  });

  it('is cancelled from JSON-RPC between two patches, leaving the repository as it was', async () => {
    // A git hook holds the first patch until the test has delivered the cancel.
    const gate = join(t.dir, 'gate');
    writeFileSync(join(repo, '.git', 'hooks', 'post-applypatch'), `#!/bin/sh\nwhile [ ! -e '${gate}' ]; do sleep 0.02; done\n`);
    chmodSync(join(repo, '.git', 'hooks', 'post-applypatch'), 0o755);
    server = startServe(t);
    await server.conn.sendRequest('initialize', {});
    const { CancellationTokenSource } = await import('vscode-jsonrpc/node.js');
    const source = new CancellationTokenSource();
    const applying = server.conn.sendRequest('apply', { messageId: scenario.cover, repo }, source.token).then(() => 'resolved', (err: { code: number; message: string }) => err);
    while (!server.notes.some((n) => n.method === 'pwnm/progress' && (n.params as { message: string }).message.startsWith('applying 1/3'))) await new Promise((r) => setTimeout(r, 20));
    source.cancel();
    // Requests are read in order: once this answers, the cancel has been read.
    await server.conn.sendRequest('states', {});
    writeFileSync(gate, '');
    const err = await applying;
    expect(err).to.have.property('code', -32800);
    expect((err as { message: string }).message).to.match(/cancelled after 1 of 3 patches; .* is back at [0-9a-f]{12} as before/);
    expect(await git('rev-parse', 'HEAD')).to.equal(base);
    expect(await git('status', '--porcelain')).to.equal('');
    expect(inAm()).to.equal(false);
    const progress = server.notes.filter((n) => n.method === 'pwnm/progress').map((n) => (n.params as { message: string }).message);
    expect(progress).to.deep.equal(['applying 1/3 [PATCH 1/3] util: check after step 20', 'applied 1/3 [PATCH 1/3] util: check after step 20']);
  });

  it('rolls an apply back when the server is shut down mid-series', async () => {
    const gate = join(t.dir, 'gate');
    writeFileSync(join(repo, '.git', 'hooks', 'post-applypatch'), `#!/bin/sh\nwhile [ ! -e '${gate}' ]; do sleep 0.02; done\n`);
    chmodSync(join(repo, '.git', 'hooks', 'post-applypatch'), 0o755);
    server = startServe(t);
    await server.conn.sendRequest('initialize', {});
    const applying = server.conn.sendRequest('apply', { messageId: scenario.cover, repo }).then(() => 'resolved', (err: { code: number }) => err.code);
    while (!server.notes.some((n) => n.method === 'pwnm/progress')) await new Promise((r) => setTimeout(r, 20));
    const shutdown = server.conn.sendRequest('shutdown');
    await server.conn.sendRequest('states', {}).catch(() => undefined);
    writeFileSync(gate, '');
    await shutdown;
    expect(await applying).to.equal(-32800);
    expect(await git('rev-parse', 'HEAD')).to.equal(base);
    expect(inAm()).to.equal(false);
  });
});
