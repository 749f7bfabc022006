import Database from '../../server/store/sqlite.js';
import { expect } from 'chai';
import { execa } from 'execa';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FillResult } from '../../server/ops/fill.js';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// `fill` against the real Patchwork: five patches whose mail never reached
// notmuch (a whole 3-patch series with its cover letter, a patch with a
// reply the user has, a patch of another series) come back from
// Patchwork's own mbox views, thread with what is there, and get their
// pw- tags; one whose mbox request fails is reported, the rest go in.

describe('real Patchwork: fill', function () {
  this.timeout(120_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('inserts exactly the missing mail, threaded and tagged; a failed mbox is reported; runs again insert nothing', async () => {
    t = await makeRealEnv(pw, { patches: 1 });
    const env = t;
    const mails = await env.addMail({ patches: 0, git: { repo: join(env.dir, 'repo') } }, 'git');
    const id = (prefix: string): string => mails.find((m) => m.msgid.startsWith(prefix))!.msgid;
    const series = ['util-checks-1-', 'util-checks-2-', 'util-checks-3-'].map(id);
    const cover = id('util-checks-0-');
    const single = id('core-init-1-');
    const failing = id('dev-rework-2-');
    const missing = [...series, single, failing];
    const reply = mails.find((m) => m.text.includes(`In-Reply-To: <${single}>`))!.msgid;
    for (const m of mails.filter((x) => [...missing, cover].includes(x.msgid))) rmSync(m.file);
    const nm = (...args: string[]) => execa('notmuch', args, { env: env.env, extendEnv: false });
    await nm('new', '--quiet');
    const count = async (): Promise<number> => Number((await nm('count', '*')).stdout);
    const before = await count();
    const first = await env.sync();
    expect(first.p.missingLocally).to.equal(5);

    // A request that fails: this patch's mbox URL points where Patchwork has nothing.
    const db = new Database(join(env.dir, 'state.db'));
    const original = (db.prepare('SELECT mbox FROM patches WHERE msgid = ?').get(failing) as { mbox: string }).mbox;
    db.prepare('UPDATE patches SET mbox = ? WHERE msgid = ?').run(original.replace('/mbox/', '/nothing-here/'), failing);

    const fill = async (args: string[] = []): Promise<{ exitCode: number; r: FillResult }> => {
      const out = await env.cli(['fill', '--json', ...args]);
      return { exitCode: out.exitCode, r: JSON.parse(out.stdout) as FillResult };
    };
    const dry = await fill(['--dry-run']);
    expect(dry.r.planned.sort()).to.deep.equal([...missing].sort());
    expect(await count()).to.equal(before);

    const run = await fill();
    expect(run.exitCode).to.equal(1);
    expect(run.r.added.map((m) => `${m.kind} ${m.messageId}`).sort()).to.deep.equal([`cover ${cover}`, ...series.map((m) => `patch ${m}`), `patch ${single}`].sort());
    expect(run.r.failed.map((f) => f.url)).to.deep.equal([original.replace('/mbox/', '/nothing-here/')]);
    expect(await count()).to.equal(before + 5);
    for (const m of [...series, single]) expect(await env.stateTags(m), m).to.deep.equal([`pw-${env.link}-new`]);
    for (const m of [...series, single, cover]) expect(await env.tags(m), m).to.include('inbox');
    // Threaded with the reply the user had, headers as the original mail.
    const thread = async (m: string): Promise<string> => (await nm('search', '--output=threads', `id:${m}`)).stdout;
    expect(await thread(single)).to.equal(await thread(reply));
    expect(await thread(series[0]!)).to.equal(await thread(cover));
    const raw = (await nm('show', '--format=raw', `id:${single}`)).stdout;
    const originalDate = /^Date: .*$/m.exec(mails.find((m) => m.msgid === single)!.text)![0];
    expect(raw).to.include(originalDate);
    expect((await nm('search', '--output=files', `id:${single}`)).stdout).to.include(join(env.dir, 'mail', 'patchwork', ''));

    db.prepare('UPDATE patches SET mbox = ? WHERE msgid = ?').run(original, failing);
    db.close();
    const again = await fill();
    expect(again.r.added.map((m) => m.messageId)).to.deep.equal([failing]);
    expect(await env.stateTags(failing)).to.deep.equal([`pw-${env.link}-new`]);
    const last = await fill();
    expect(last.r.added).to.deep.equal([]);
    expect(last.exitCode).to.equal(0);
    expect(await count()).to.equal(before + 6);
  });
});
