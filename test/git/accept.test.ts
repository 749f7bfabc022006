import { expect } from 'chai';
import { execa } from 'execa';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acceptFromGit, trailerMessageId } from '../../server/git/accept.js';
import { sync } from '../../server/sync/engine.js';
import { makeEnv, type TestEnv } from '../helpers.js';
import { commitVector, gitEnv, prepareVectors, vector } from './vectors.js';

// A real git repository whose commits carry diffs Patchwork 3.1.3 hashed
// (the recorded hash vectors), and a sandbox Patchwork holding patches
// with the hashes Patchwork computed: the expected matches come from
// Patchwork, not from our own hashDiff.

/** Vectors whose diffs rebuild as commits: plain, non-ASCII, a deletion, a new file without a final newline, `--- ` content lines, a space-only last context line, mode plus content, a form feed. */
const BY_HASH = [55, 61, 2872, 66, 3969, 7041, 4630, 9300];
/** Vectors with no hunks: Patchwork hashed them all to the SHA-1 of nothing. */
const MODE_ONLY = 58;
const RENAME_ONLY = 56;

describe('accept-from-git', function () {
  this.timeout(60_000);
  let t: TestEnv;
  let repo: string;
  afterEach(async () => t && (await t.cleanup()));
  const git = (...args: string[]) => execa('git', args, { cwd: repo, env: { ...process.env, ...gitEnv } });

  /** A repository with the files the vectors' diffs apply to; returns the commit to range from. */
  async function setup(vectors: number[]): Promise<string> {
    t = await makeEnv({ patches: 1 });
    repo = join(t.dir, 'repo');
    mkdirSync(repo);
    await git('init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'README'), 'base\n');
    await git('add', '.');
    await git('commit', '-q', '-m', 'base');
    await prepareVectors(repo, vectors.map(vector));
    return (await git('rev-parse', 'HEAD')).stdout.trim();
  }
  /** A patch in "Patchwork" with the hash Patchwork recorded for vector `id`, and its mail in notmuch. */
  async function mailed(id: number, msgid = vector(id).msgid.slice(1, -1), quiet = false): Promise<number> {
    const v = vector(id);
    await t.addMail(msgid, { subject: `[PATCH] vector ${id}` });
    return t.sandbox.data.addPatch({ project: t.project.id, msgid: `<${msgid}>`, name: `vector ${id}`, submitter: 1, date: '2026-10-01T00:00:00', diff: v.diff, hash: v.hash }, quiet).id;
  }
  const patch = (id: number) => t.sandbox.data.patches.get(id)!;

  it('reads message-ids from Link: and Message-Id: trailers', () => {
    expect(trailerMessageId('fix\n\nLink: https://lore.kernel.org/r/20260101.1234-1-a@b.org\n')).to.equal('20260101.1234-1-a@b.org');
    expect(trailerMessageId('fix\n\nLink: https://patch.msgid.link/20260101.1234-1-a%40b.org/\n')).to.equal('20260101.1234-1-a@b.org');
    expect(trailerMessageId('fix\n\nMessage-Id: <x.y@z>\n')).to.equal('x.y@z');
    expect(trailerMessageId('fix\n\nLink: https://bugzilla.example.org/123\n')).to.equal(undefined);
  });

  it('finds the patches Patchwork hashed, by its recorded hash, and marks them accepted with their commit; --dry-run changes nothing', async () => {
    const start = await setup(BY_HASH);
    const ids: number[] = [];
    for (const v of BY_HASH) ids.push(await mailed(v));
    const s = t.session();
    await sync(s);
    const shas: string[] = [];
    for (const v of BY_HASH) shas.push(await commitVector(repo, vector(v), `apply vector ${v}`));
    // A commit of our own matches nothing.
    writeFileSync(join(repo, 'README'), 'rewritten\n');
    await git('commit', '-q', '-am', 'a change of our own');
    const own = (await git('rev-parse', 'HEAD')).stdout.trim();

    const dry = await acceptFromGit(s, { repo, range: `${start}..HEAD`, dryRun: true });
    expect(dry.matched.map((m) => [m.patchId, m.outcome])).to.deep.equal(ids.map((id) => [id, 'dry-run']));
    expect(ids.map((id) => patch(id).state)).to.deep.equal(ids.map(() => 'new'));

    const r = await acceptFromGit(s, { repo, range: `${start}..HEAD` });
    expect(r.matched.map((m) => [m.commit, m.patchId, m.via, m.outcome])).to.deep.equal(shas.map((sha, i) => [sha, ids[i], 'hash', 'pushed']));
    expect(r.unmatched.map((u) => u.commit)).to.deep.equal([own]);
    expect(ids.map((id) => [patch(id).state, patch(id).commit_ref])).to.deep.equal(shas.map((sha) => ['accepted', sha]));
    // The notmuch side changes in the same run.
    for (const id of ids) expect(await t.tags(patch(id).msgid.slice(1, -1))).to.include('pw-skiboot-accepted');
    await s.close();
  });

  it('never matches by the empty-diff hash: a mode-only or rename-only commit goes by its trailer, else is unmatched', async () => {
    const start = await setup([MODE_ONLY, RENAME_ONLY, 254]);
    // One patch holds the empty-diff hash (a mode-only patch Patchwork recorded), one is named by a trailer.
    const empty = await mailed(MODE_ONLY);
    const named = await mailed(55, 'named-by-trailer@example.org');
    const s = t.session();
    await sync(s);
    const modeOnly = await commitVector(repo, vector(MODE_ONLY), 'kconfig: make nconf-cfg.sh executable');
    const renamed = await commitVector(repo, vector(RENAME_ONLY), 'rpi-userland: rename patches');
    const withTrailer = await commitVector(repo, vector(254), 'mode change\n\nLink: https://lore.kernel.org/r/named-by-trailer@example.org');

    const r = await acceptFromGit(s, { repo, range: `${start}..HEAD` });
    expect(r.matched.map((m) => [m.commit, m.patchId, m.via])).to.deep.equal([[withTrailer, named, 'msgid']]);
    expect(r.unmatched.map((u) => u.commit)).to.deep.equal([modeOnly, renamed]);
    expect(r.ambiguous).to.deep.equal([]);
    expect(patch(empty).state).to.equal('new');
    await s.close();
  });

  it('reports a hash two patches share as ambiguous, even when the state database knows only one, and picks by trailer', async () => {
    const start = await setup([55]);
    const first = await mailed(55, 'first-post@example.org');
    const s = t.session();
    await sync(s);
    // The same diff mailed again, unseen by our sync (no event): only Patchwork knows both.
    const resent = await mailed(55, 'resent@example.org', true);
    const sha = await commitVector(repo, vector(55), 'e_pow: include math.h');

    const r = await acceptFromGit(s, { repo, range: `${start}..HEAD` });
    expect(r.matched).to.deep.equal([]);
    expect(r.ambiguous).to.deep.equal([{ commit: sha, subject: 'e_pow: include math.h', patchIds: [first, resent] }]);
    expect([patch(first).state, patch(resent).state]).to.deep.equal(['new', 'new']);

    await git('commit', '-q', '--amend', '-m', 'e_pow: include math.h\n\nMessage-Id: <resent@example.org>');
    const amended = (await git('rev-parse', 'HEAD')).stdout.trim();
    const byTrailer = await acceptFromGit(s, { repo, range: `${start}..HEAD` });
    expect(byTrailer.matched.map((m) => [m.commit, m.patchId, m.via, m.outcome])).to.deep.equal([[amended, resent, 'msgid', 'pushed']]);
    expect([patch(first).state, patch(resent).state]).to.deep.equal(['new', 'accepted']);
    await s.close();
  });
});
