import { expect } from 'chai';
import { execa } from 'execa';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashDiff } from '../../server/patchwork/hash.js';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// accept-from-git against the hash Patchwork's own parser stored at
// import: patches made by git format-patch, mailed to the list (into
// notmuch, and into Patchwork through its parser), then applied.

describe('real Patchwork: accept-from-git and patch hashes', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });
  const gitEnv = { PATH: process.env.PATH, GIT_AUTHOR_NAME: 'Dev', GIT_AUTHOR_EMAIL: 'dev@example.org', GIT_COMMITTER_NAME: 'Maint', GIT_COMMITTER_EMAIL: 'maint@example.org', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };

  it('our hash of every generated diff is the hash Patchwork stored', async () => {
    t = await makeRealEnv(pw, { patches: 10 });
    const server = await t.patches();
    expect(server).to.have.length(10);
    for (const mail of t.mails.filter((m) => m.text.includes('\ndiff --git '))) {
      const stored = server.find((p) => p.msgid === `<${mail.msgid}>`)!;
      expect(stored.hash, mail.msgid).to.match(/^[0-9a-f]{40}$/);
      const diff = mail.text.slice(mail.text.indexOf('diff --git '), mail.text.lastIndexOf('\n-- \n') + 1);
      expect(hashDiff(diff), mail.msgid).to.equal(stored.hash);
    }
  });

  it('marks applied patches accepted with their commit: by Patchwork\'s stored hash, else by the Link: trailer', async () => {
    t = await makeRealEnv(pw, { patches: 1 });
    const env = t;
    const repo = join(t.dir, 'repo');
    mkdirSync(repo);
    const git = (...args: string[]) => execa('git', args, { cwd: repo, env: gitEnv, extendEnv: false });
    await git('init', '-q', '-b', 'main');
    const lines = (name: string) => Array.from({ length: 30 }, (_, i) => `${name} line ${i}`).join('\n') + '\n';
    for (const f of ['a.c', 'b.c', 'c.c']) writeFileSync(join(repo, f), lines(f));
    await git('add', '.');
    await git('commit', '-q', '-m', 'base');
    await git('checkout', '-q', '-b', 'topic');
    const edit = async (file: string, at: number, text: string, subject: string) => {
      const content = readFileSync(join(repo, file), 'utf8').split('\n');
      content.splice(at, 1, text);
      writeFileSync(join(repo, file), content.join('\n'));
      await git('commit', '-q', '-am', subject);
    };
    await edit('a.c', 5, 'a.c changed by patch one', 'a: patch one');
    await edit('b.c', 10, 'b.c changed by patch two', 'b: patch two');
    await edit('c.c', 15, 'c.c changed by patch three', 'c: patch three');
    const out = join(t.dir, 'out');
    await git('format-patch', '-q', '--thread', '-o', out, 'main..topic');

    // Mail them to the list: into notmuch, and into Patchwork through its parser.
    const files = readdirSync(out).sort().map((f) => join(out, f));
    const mailed = files.map((file, i) => {
      const text = readFileSync(file, 'utf8').replace(/^From [^\n]*\n/, '')
        .replace(/^(From: .*)$/m, `$1\nTo: ${env.listEmail}\nList-Id: <${env.listId}>`);
      const path = join(env.dir, 'mail', 'cur', `fp.${i}:2,S`);
      writeFileSync(path, text);
      return { path, msgid: /^Message-I[dD]: <([^>]+)>/m.exec(text)![1]! };
    });
    await pw.admin('import', { files: mailed.map((m) => m.path), listid: t.listId });
    await execa('notmuch', ['new', '--quiet'], { env: t.env, extendEnv: false });
    expect((await t.sync()).exitCode).to.equal(0);
    const stored = await Promise.all(mailed.map((m) => t!.patch(m.msgid)));
    for (const p of stored) expect(p.hash).to.match(/^[0-9a-f]{40}$/);

    // Apply: one as it was, one edited (its hash no longer matches) with a Link: trailer, and a commit of our own.
    await git('checkout', '-q', 'main');
    await git('am', '-q', files[0]!);
    await git('am', '-q', files[1]!);
    writeFileSync(join(repo, 'b.c'), readFileSync(join(repo, 'b.c'), 'utf8') + 'one more line from the maintainer\n');
    await git('commit', '-q', '-a', '--amend', '-m', `b: patch two\n\nLink: https://lore.kernel.org/r/${mailed[1]!.msgid}`);
    writeFileSync(join(repo, 'c.c'), 'rewritten\n');
    await git('commit', '-q', '-am', 'c: a change of our own');
    const shas = (await git('rev-list', '--reverse', 'main~3..main')).stdout.split('\n');
    // The commit applied as it was has the diff Patchwork hashed.
    const applied = (await git('show', '--format=', shas[0]!)).stdout;
    expect(hashDiff(`${applied}\n`)).to.equal(stored[0]!.hash);

    const r = await t.cli(['accept-from-git', '--repo', repo, '--json', 'main~3..main']);
    expect(r.exitCode, r.stderr).to.equal(0);
    const result = JSON.parse(r.stdout) as { matched: { msgid: string; via: string; outcome: string; commit: string }[]; unmatched: { commit: string }[] };
    expect(result.matched.map((m) => [m.msgid, m.via, m.outcome, m.commit])).to.deep.equal([
      [mailed[0]!.msgid, 'hash', 'pushed', shas[0]],
      [mailed[1]!.msgid, 'msgid', 'pushed', shas[1]],
    ]);
    expect(result.unmatched.map((u) => u.commit)).to.deep.equal([shas[2]]);
    const after = await Promise.all(mailed.map((m) => t!.api<{ state: string; commit_ref: string | null }>('GET', `patches/${stored[mailed.indexOf(m)]!.id}/`)));
    expect(after.map((a) => [a.body.state, a.body.commit_ref])).to.deep.equal([['accepted', shas[0]], ['accepted', shas[1]], ['new', null]]);
    expect(await t.stateTags(mailed[0]!.msgid)).to.deep.equal([`pw-${t.link}-accepted`]);
  });
});
