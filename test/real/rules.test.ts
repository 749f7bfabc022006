import { expect } from 'chai';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// The built-in rule against a real Patchwork: my reply with `pw-bot: cr`
// to one patch of a series sets the whole series changes-requested on the
// server, once (as netdev's mailbot does, DESIGN §8).

describe('real Patchwork: rules', function () {
  this.timeout(90_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('my reply with pw-bot: cr marks its series changes-requested on the server, and a second sync does nothing more', async () => {
    t = await makeRealEnv(pw, { patches: 8 });
    t.writeConfig();
    expect((await t.sync()).exitCode).to.equal(0);
    const all = await t.patches();
    const bySeries = new Map<number, string[]>();
    for (const p of all) if (p.series[0]) bySeries.set(p.series[0].id, [...(bySeries.get(p.series[0].id) ?? []), p.msgid.replace(/^<|>$/g, '')]);
    const series = [...bySeries.values()].find((ids) => ids.length >= 2)!;
    expect(series, 'a series of two patches or more').to.not.equal(undefined);
    const before = await Promise.all(series.map(async (m) => (await t!.patch(m)).state));
    expect(before.every((s) => s !== 'changes-requested')).to.equal(true);

    const mine = `rules-reply.${Date.now()}@example.org`;
    writeFileSync(join(t.dir, 'mail', 'cur', 'rules-reply:2,S'), `From: Test <test@example.org>\nTo: ${t.listEmail}\nSubject: Re: patch\nDate: ${new Date().toUTCString().replace('GMT', '+0000')}\nMessage-ID: <${mine}>\nIn-Reply-To: <${series[1]!}>\nReferences: <${series[1]!}>\n\nPlease rework this.\n\npw-bot: cr\n`);
    await execa('notmuch', ['new', '--quiet'], { env: t.env });

    let r = await t.cli(['--json', 'sync']);
    expect(r.exitCode, r.stderr).to.equal(0);
    const fired = (JSON.parse(r.stdout) as { rules: { fired: { msgid: string; state: string }[] } }).rules.fired;
    expect(fired.map((f) => [f.msgid, f.state])).to.deep.equal([[mine, 'changes-requested']]);
    for (const m of series) expect((await t.patch(m)).state).to.equal('changes-requested');

    r = await t.cli(['--json', 'sync']);
    expect((JSON.parse(r.stdout) as { rules: { fired: unknown[] } }).rules.fired).to.deep.equal([]);
  });
});
