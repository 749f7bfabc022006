import { expect } from 'chai';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv, patchesOf, runCli, startServe, stopServe, type TestEnv } from '../helpers.js';

// Rules end to end: the sandbox Patchwork, a real notmuch database, the CLI
// as its own process. The replies are written by hand as a mail client
// would send them; what must happen comes from the issue (and netdev's
// mailbot, DESIGN §8): `pw-bot: cr` from me sets the whole series to
// changes-requested, nothing else does.

describe('rules', function () {
  this.timeout(120_000);
  let t: TestEnv;
  let serial = 0;
  const cli = (...args: string[]) => runCli(['-c', t.configFile, ...args], { env: t.env });
  const stateOf = (msgid: string): string => t.sandbox.data.patchByMsgid(t.project.id, `<${msgid}>`)!.state;
  /** The patches (message-ids, no brackets) of the first series with a cover letter and at least two patches. */
  let series: { cover: string; patches: string[] };

  /** A reply to `parent`, from `from`, with `body`; then `notmuch new`. */
  async function reply(parent: string, from: string, body: string): Promise<string> {
    const msgid = `reply.${++serial}.${Date.now()}@example.org`;
    const date = new Date().toUTCString().replace('GMT', '+0000');
    writeFileSync(join(t.maildir, 'cur', `reply.${serial}:2,S`), `From: ${from}\nTo: skiboot@lists.ozlabs.org\nSubject: Re: a patch\nDate: ${date}\nMessage-ID: <${msgid}>\nIn-Reply-To: <${parent}>\nReferences: <${parent}>\n\n> quoted text\n\n${body}\n`);
    await execa('notmuch', ['new', '--quiet'], { env: t.env });
    return msgid;
  }

  async function syncJson(): Promise<{ rules?: { fired: { rule: string; msgid: string; state: string; patches: unknown[] }[] } }> {
    const r = await cli('--json', 'sync');
    expect(r.exitCode, r.all).to.equal(0);
    return JSON.parse(r.stdout) as { rules?: { fired: { rule: string; msgid: string; state: string; patches: unknown[] }[] } };
  }

  beforeEach(async () => {
    t = await makeEnv({ patches: 12, stateMix: false });
    const data = t.sandbox.data;
    const ids = patchesOf(t).map((id) => data.patches.get(id)!);
    // The generator mails a cover letter as part 0 of some series, with the patches as its replies.
    for (const s of data.series.values()) {
      const patches = ids.filter((p) => p.series === s.id).map((p) => p.msgid.replace(/^<|>$/g, ''));
      const cover = patches[0]?.replace(/-1-([^-@]+@)/, '-0-$1');
      if (patches.length >= 2 && cover && (await t.notmuch.count([`id:${cover}`]))[0] === 1) {
        series = { cover, patches };
        break;
      }
    }
    expect(series, 'the generator made a series with a cover letter').to.not.equal(undefined);
    for (const m of series.patches) expect(stateOf(m)).to.equal('new');
  });
  afterEach(async () => t && (await t.cleanup()));

  it('my pw-bot: cr marks the series changes-requested once; old replies and others\' replies fire nothing; a later manual change stays', async () => {
    // An old reply of mine, in notmuch before rules were first run.
    await reply(series.patches[0]!, 'Test <test@example.org>', 'pw-bot: accepted');
    let s = await syncJson();
    expect(s.rules?.fired).to.deep.equal([]);
    for (const m of series.patches) expect(stateOf(m)).to.equal('new');

    // Someone else says the same: not my reply, nothing happens.
    await reply(series.patches[0]!, 'Eve Outsider <eve@example.com>', 'pw-bot: cr');
    s = await syncJson();
    expect(s.rules?.fired).to.deep.equal([]);
    for (const m of series.patches) expect(stateOf(m)).to.equal('new');

    // My reply to the second patch: the whole series (mailbot semantics).
    const mine = await reply(series.patches[1]!, 'Test <test@example.org>', 'Please fix the locking.\n\npw-bot: cr');
    s = await syncJson();
    expect(s.rules?.fired.map((f) => [f.msgid, f.state, f.patches.length])).to.deep.equal([[mine, 'changes-requested', series.patches.length]]);
    for (const m of series.patches) expect(stateOf(m)).to.equal('changes-requested');
    const tags = await t.tags(series.patches[0]!);
    expect(tags).to.include('pw-skiboot-changes-requested');

    // A second sync does nothing more.
    s = await syncJson();
    expect(s.rules?.fired).to.deep.equal([]);

    // I change my mind by hand, and read my reply again (its tags change): the rule does not fire again.
    const manual = await cli('set-state', '--series', series.patches[0]!, 'under-review');
    expect(manual.exitCode, manual.all).to.equal(0);
    await execa('notmuch', ['tag', '+flagged', '--', `id:${mine}`], { env: t.env });
    s = await syncJson();
    expect(s.rules?.fired).to.deep.equal([]);
    for (const m of series.patches) expect(stateOf(m)).to.equal('under-review');
  });

  it('a [rule] section fires on its query, on the series of the cover letter replied to', async () => {
    t.writeConfig('', '\n[rule lgtm]\nquery = body:"looks good"\nstate = under-review\nscope = patch\n');
    await syncJson();
    const mine = await reply(series.cover, 'Test <test@example.org>', 'This all looks good to me.');
    const s = await syncJson();
    expect(s.rules?.fired.map((f) => [f.msgid, f.state, f.patches.length])).to.deep.equal([[mine, 'under-review', series.patches.length]]);
    for (const m of series.patches) expect(stateOf(m)).to.equal('under-review');
  });

  it('scope = patch on a reply to a patch moves that patch only; from lists who may fire it; pw_bot = false turns the built-in rule off', async () => {
    t.writeConfig('', 'pw_bot = false\n\n[rule tested]\nquery = body:"Tested-by"\nstate = under-review\nscope = patch\nfrom = Eve@Example.com, ci@example.org\n');
    await syncJson();
    // My own pw-bot line: the built-in rule is off.
    await reply(series.patches[0]!, 'Test <test@example.org>', 'pw-bot: cr');
    // Someone the rule does not name: nothing.
    await reply(series.patches[0]!, 'Mallory <mallory@example.net>', 'Tested-by: Mallory <mallory@example.net>');
    let s = await syncJson();
    expect(s.rules?.fired).to.deep.equal([]);
    for (const m of series.patches) expect(stateOf(m)).to.equal('new');
    // An address the rule names (its case does not matter): the patch replied to, and no other.
    const eve = await reply(series.patches[1]!, 'Eve Tester <eve@example.com>', 'Tested-by: Eve Tester <eve@example.com>');
    s = await syncJson();
    expect(s.rules?.fired.map((f) => [f.rule, f.msgid, f.state, f.patches.length])).to.deep.equal([['tested', eve, 'under-review', 1]]);
    expect(series.patches.map(stateOf)).to.deep.equal(series.patches.map((m) => (m === series.patches[1] ? 'under-review' : 'new')));
  });

  it('rules --dry-run lists what would fire and changes nothing; rules then fires it', async () => {
    t.writeConfig('', 'pw_bot = true\n');
    await syncJson();
    const mine = await reply(series.patches[0]!, 'Test <test@example.org>', 'pw-bot: defer');
    let r = await cli('rules', '--dry-run');
    expect(r.exitCode, r.all).to.equal(0);
    expect(r.stdout).to.include(`pw-bot: id:${mine}`);
    expect(r.stdout).to.include('-> deferred');
    for (const m of series.patches) expect(stateOf(m)).to.equal('new');
    r = await cli('rules');
    expect(r.exitCode, r.all).to.equal(0);
    for (const m of series.patches) expect(stateOf(m)).to.equal('deferred');
  });

  it('--since acts on a reply older than the first run, and a config error names file and line', async () => {
    await reply(series.patches[0]!, 'Test <test@example.org>', 'pw-bot: nap');
    await syncJson();
    for (const m of series.patches) expect(stateOf(m)).to.equal('new');
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const r = await cli('rules', '--since', day);
    expect(r.exitCode, r.all).to.equal(0);
    for (const m of series.patches) expect(stateOf(m)).to.equal('not-applicable');

    t.writeConfig('', '\n[rule bad]\nquery = tag:x\nstate = new\nscope = thread\n');
    const bad = await cli('rules');
    expect(bad.exitCode).to.equal(2);
    expect(bad.stderr).to.match(/pwnm-sync\.ini:\d+: scope is patch or series, not "thread"/);
  });

  it('the JSON-RPC rules request: a dry run lists, a real one fires and sends tagsChanged for the series', async () => {
    const server = startServe(t);
    try {
      await server.conn.sendRequest('initialize', {});
      await server.conn.sendRequest('sync', {});
      const mine = await reply(series.patches[0]!, 'Test <test@example.org>', 'pw-bot: reject');
      type Fired = { fired: { msgid: string; state: string; results?: unknown[] }[] };
      const dry = await server.conn.sendRequest<Fired>('rules', { dryRun: true });
      expect(dry.fired.map((f) => [f.msgid, f.state, f.results])).to.deep.equal([[mine, 'rejected', undefined]]);
      for (const m of series.patches) expect(stateOf(m)).to.equal('new');
      const seen = server.notes.length; // the first sync retagged every patch
      const real = await server.conn.sendRequest<Fired>('rules', {});
      expect(real.fired.map((f) => [f.msgid, f.state, f.results?.length])).to.deep.equal([[mine, 'rejected', series.patches.length]]);
      for (const m of series.patches) expect(stateOf(m)).to.equal('rejected');
      const changed = server.notes.slice(seen).filter((n) => n.method === 'pwnm/tagsChanged').flatMap((n) => (n.params as { messageIds: string[] }).messageIds);
      expect(changed).to.include.members(series.patches);
    } finally {
      await stopServe(server);
    }
  });
});
