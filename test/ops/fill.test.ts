import Database from '../../server/store/sqlite.js';
import { expect } from 'chai';
import { execa } from 'execa';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FillResult } from '../../server/ops/fill.js';
import { generate } from '../../server/sandbox/generator.js';
import { isMailTag, makeEnv, runCli, type TestEnv } from '../helpers.js';

// `fill` against the sandbox and a real notmuch in a temp dir: the mail of
// five patches (a whole 3-patch series with its cover letter, a patch with
// a reply the user has, a patch of another series) is deleted from the
// maildir; fill fetches it back from the sandbox's mbox views. The same
// scenario runs against real Patchworks in test/real/fill.test.ts.

describe('fill (sandbox, real notmuch)', function () {
  this.timeout(60_000);
  let env: TestEnv;
  afterEach(() => env?.cleanup());

  async function setup() {
    env = await makeEnv({ patches: 0 });
    const { mails } = generate(env.sandbox.data, env.project, env.maildir, { patches: 0, git: { repo: join(env.dir, 'repo') } });
    const nm = (...args: string[]) => execa('notmuch', args, { env: env.env });
    const id = (prefix: string): string => mails.find((m) => m.msgid.startsWith(prefix))!.msgid;
    const cli = async (args: string[]) => runCli(['-c', env.configFile, ...args], { env: env.env });
    const fill = async (args: string[] = []): Promise<{ exitCode: number; r: FillResult }> => {
      const out = await cli(['fill', '--json', ...args]);
      return { exitCode: out.exitCode ?? -1, r: JSON.parse(out.stdout) as FillResult };
    };
    const count = async (query = '*'): Promise<number> => Number((await nm('count', query)).stdout);
    const drop = async (msgids: string[]): Promise<void> => {
      for (const m of mails.filter((x) => msgids.includes(x.msgid))) rmSync(m.file);
      await nm('new', '--quiet');
    };
    return { mails, nm, id, cli, fill, count, drop };
  }

  it('inserts exactly the missing mail, threaded and tagged; a failed mbox is reported; runs again insert nothing', async () => {
    const { mails, nm, id, cli, fill, count, drop } = await setup();
    const series = ['util-checks-1-', 'util-checks-2-', 'util-checks-3-'].map(id);
    const cover = id('util-checks-0-');
    const single = id('core-init-1-');
    const failing = id('dev-rework-2-');
    const missing = [...series, single, failing];
    const reply = mails.find((m) => m.text.includes(`In-Reply-To: <${single}>`))!.msgid;
    await drop([...missing, cover]);
    const before = await count();
    const first = await cli(['sync']);
    expect(first.exitCode, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/\b5 not in notmuch\b/);

    // A request that fails: this patch's mbox URL points where the server has nothing.
    const db = new Database(join(env.dir, 'state.db'));
    const original = (db.prepare('SELECT mbox FROM patches WHERE msgid = ?').get(failing) as { mbox: string }).mbox;
    const broken = original.replace('/mbox/', '/nothing-here/');
    db.prepare('UPDATE patches SET mbox = ? WHERE msgid = ?').run(broken, failing);

    const dry = await fill(['--dry-run']);
    expect(dry.exitCode).to.equal(0);
    expect(dry.r.planned.sort()).to.deep.equal([...missing].sort());
    expect(dry.r.added).to.deep.equal([]);
    expect(await count()).to.equal(before);

    const run = await fill();
    expect(run.exitCode).to.equal(1);
    expect(run.r.added.map((m) => `${m.kind} ${m.messageId}`).sort()).to.deep.equal([`cover ${cover}`, ...series.map((m) => `patch ${m}`), `patch ${single}`].sort());
    expect(run.r.failed.map((f) => f.url)).to.deep.equal([broken]);
    expect(await count()).to.equal(before + 5);
    for (const m of [...series, single]) expect((await env.tags(m)).filter((t) => t.startsWith('pw-skiboot-') && !isMailTag(t)), m).to.deep.equal(['pw-skiboot-new']);
    for (const m of [...series, single, cover]) expect(await env.tags(m), m).to.include('inbox');
    // Threaded with the reply the user had; the original Date kept; in the fill folder.
    const thread = async (m: string): Promise<string> => (await nm('search', '--output=threads', `id:${m}`)).stdout;
    expect(await thread(single)).to.equal(await thread(reply));
    expect(await thread(series[0]!)).to.equal(await thread(cover));
    const originalDate = /^Date: .*$/m.exec(mails.find((m) => m.msgid === single)!.text)![0];
    expect((await nm('show', '--format=raw', `id:${single}`)).stdout).to.include(originalDate);
    expect((await nm('search', '--output=files', `id:${single}`)).stdout).to.include(join(env.maildir, 'patchwork', ''));

    db.prepare('UPDATE patches SET mbox = ? WHERE msgid = ?').run(original, failing);
    db.close();
    const again = await fill();
    expect(again.r.added.map((m) => m.messageId)).to.deep.equal([failing]);
    expect((await env.tags(failing)).filter((t) => t.startsWith('pw-skiboot-') && !isMailTag(t))).to.deep.equal(['pw-skiboot-new']);
    const last = await fill();
    expect(last.exitCode).to.equal(0);
    expect(last.r.added).to.deep.equal([]);
    expect(await count()).to.equal(before + 6);
    // One file per message: nothing was inserted twice.
    for (const m of [...missing, cover]) expect((await nm('search', '--output=files', `id:${m}`)).stdout.trim().split('\n'), m).to.have.length(1);
  });

  it('a series whose patches are missing but whose cover letter is in notmuch: the patches come, the cover is not inserted again', async () => {
    const { id, fill, count, drop, nm } = await setup();
    const series = ['util-checks-1-', 'util-checks-2-', 'util-checks-3-'].map(id);
    const cover = id('util-checks-0-');
    await drop(series);
    const before = await count();
    const coverFiles = (await nm('search', '--output=files', `id:${cover}`)).stdout;
    await runCli(['-c', env.configFile, 'sync'], { env: env.env });
    const run = await fill();
    expect(run.exitCode).to.equal(0);
    expect(run.r.added.map((m) => `${m.kind} ${m.messageId}`).sort()).to.deep.equal(series.map((m) => `patch ${m}`).sort());
    expect(await count()).to.equal(before + 3);
    expect((await nm('search', '--output=files', `id:${cover}`)).stdout).to.equal(coverFiles);
  });
});
