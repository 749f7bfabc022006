import { expect } from 'chai';
import { execa } from 'execa';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acceptFromGit, trailerMessageId } from '../../server/git/accept.js';
import { sync } from '../../server/sync/engine.js';
import { makeEnv, type TestEnv } from '../helpers.js';

// A real git repository: patches made with git format-patch, mailed (into
// notmuch and the sandbox, which hashes them as Patchwork does), some
// applied as they were, one edited on the way in with a Link: trailer.

describe('accept-from-git', function () {
  this.timeout(60_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));
  const gitEnv = { GIT_AUTHOR_NAME: 'Dev', GIT_AUTHOR_EMAIL: 'dev@example.org', GIT_COMMITTER_NAME: 'Maint', GIT_COMMITTER_EMAIL: 'maint@example.org', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };

  it('reads message-ids from Link: and Message-Id: trailers', () => {
    expect(trailerMessageId('fix\n\nLink: https://lore.kernel.org/r/20260101.1234-1-a@b.org\n')).to.equal('20260101.1234-1-a@b.org');
    expect(trailerMessageId('fix\n\nLink: https://patch.msgid.link/20260101.1234-1-a%40b.org/\n')).to.equal('20260101.1234-1-a@b.org');
    expect(trailerMessageId('fix\n\nMessage-Id: <x.y@z>\n')).to.equal('x.y@z');
    expect(trailerMessageId('fix\n\nLink: https://bugzilla.example.org/123\n')).to.equal(undefined);
  });

  it('marks applied patches accepted with their commit, reports the rest, and --dry-run changes nothing', async () => {
    t = await makeEnv({ patches: 2 });
    const repo = join(t.dir, 'repo');
    mkdirSync(repo);
    const git = (...args: string[]) => execa('git', args, { cwd: repo, env: { ...process.env, ...gitEnv } });
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
    await git('format-patch', '-q', '--thread', '-o', join(t.dir, 'out'), 'main..topic');

    // Mail them: into notmuch and into "Patchwork".
    const files = readdirSync(join(t.dir, 'out')).sort().map((f) => join(t.dir, 'out', f));
    const msgids: string[] = [];
    for (const [i, file] of files.entries()) {
      const mail = readFileSync(file, 'utf8');
      const msgid = /^Message-I[dD]: <([^>]+)>/m.exec(mail)![1]!;
      msgids.push(msgid);
      const diff = mail.slice(mail.indexOf('diff --git'), mail.lastIndexOf('\n-- \n') + 1);
      writeFileSync(join(t.maildir, 'cur', `fp.${i}:2,S`), mail.replace(/^From [^\n]*\n/, '').replace(/^(Subject: .*)$/m, '$1').replace(/^Date: .*$/m, 'Date: Sat, 01 Nov 2026 00:00:00 +0000').replace(/^(From: .*)$/m, '$1\nTo: skiboot@lists.ozlabs.org'));
      t.sandbox.data.addPatch({ project: t.project.id, msgid: `<${msgid}>`, name: /^Subject: \[PATCH[^\]]*\] (.*)$/m.exec(mail)![1]!, submitter: 1, date: '2026-11-01T00:00:00', diff }, true);
    }
    await execa('notmuch', ['new', '--quiet'], { env: t.env });
    const s = t.session();
    await sync(s);

    // Apply: one as it was, one edited (its hash no longer matches) with a Link: trailer, and a commit of our own.
    await git('checkout', '-q', 'main');
    await git('am', '-q', files[0]!);
    await git('am', '-q', files[1]!);
    writeFileSync(join(repo, 'b.c'), readFileSync(join(repo, 'b.c'), 'utf8') + 'one more line from the maintainer\n');
    await git('commit', '-q', '-a', '--amend', '-m', `b: patch two\n\nLink: https://lore.kernel.org/r/${msgids[1]}`);
    writeFileSync(join(repo, 'c.c'), 'rewritten\n');
    await git('commit', '-q', '-am', 'c: a change of our own');
    const shas = (await git('rev-list', '--reverse', 'main~3..main')).stdout.split('\n');

    const patch = (msgid: string) => [...t.sandbox.data.patches.values()].find((p) => p.msgid === `<${msgid}>`)!;
    const dry = await acceptFromGit(s, { repo, range: 'main~3..main', dryRun: true });
    expect(dry.matched.map((m) => [m.msgid, m.outcome])).to.deep.equal([[msgids[0], 'dry-run'], [msgids[1], 'dry-run']]);
    expect(msgids.map((m) => patch(m).state)).to.deep.equal(['new', 'new', 'new']);

    const r = await acceptFromGit(s, { repo, range: 'main~3..main' });
    expect(r.matched.map((m) => [m.msgid, m.via, m.outcome, m.commit])).to.deep.equal([
      [msgids[0], 'hash', 'pushed', shas[0]],
      [msgids[1], 'msgid', 'pushed', shas[1]],
    ]);
    expect(r.unmatched.map((u) => u.commit)).to.deep.equal([shas[2]]);
    expect([patch(msgids[0]!).state, patch(msgids[0]!).commit_ref]).to.deep.equal(['accepted', shas[0]]);
    expect([patch(msgids[1]!).state, patch(msgids[1]!).commit_ref]).to.deep.equal(['accepted', shas[1]]);
    expect(patch(msgids[2]!).state).to.equal('new');
    // The notmuch side changes in the same run.
    expect(await t.tags(msgids[0]!)).to.include('pw-skiboot-accepted');
    expect(await t.tags(msgids[1]!)).to.include('pw-skiboot-accepted');
    expect(await t.tags(msgids[2]!)).to.include('pw-skiboot-new');
    await s.close();
  });
});
