import { expect } from 'chai';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseSync } from '../server/config.js';
import { PwnmError } from '../server/errors.js';

describe('config', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pwnm-config-'));
    env = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_STATE_HOME: join(dir, 'state') };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string, mode = 0o600): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    chmodSync(file, mode);
    return file;
  };
  const errorOf = (fn: () => unknown): PwnmError => {
    try { fn(); } catch (err) { return err as PwnmError; }
    throw new Error('no error');
  };

  it('reads the original tool\'s ~/.pwnm-sync.ini unchanged', () => {
    write('.pwnm-sync.ini', '[Defaults]\npatchwork_token = abcdef0123456789\npatchwork_url = https://patchwork.ozlabs.org\nsync = skiboot=skiboot@lists.ozlabs.org,petitboot=petitboot@lists.ozlabs.org\nnotmuch_database = ~/Mail\nsyncdb = ~/.pwnm-sync.db\nepoch = 2018-01-01\n');
    const { config } = loadConfig({}, env);
    expect(config.instances).to.have.length(1);
    const inst = config.instances[0]!;
    expect(inst).to.deep.include({ name: 'patchwork.ozlabs.org', url: 'https://patchwork.ozlabs.org', token: 'abcdef0123456789', epoch: '2018-01-01' });
    expect(inst.projects).to.deep.equal([{ linkName: 'skiboot', list: 'skiboot@lists.ozlabs.org' }, { linkName: 'petitboot', list: 'petitboot@lists.ozlabs.org' }]);
    expect(config.notmuchDatabase).to.equal(join(dir, 'Mail'));
    expect(config.originalDb).to.equal(join(dir, '.pwnm-sync.db'));
    // Our state lives elsewhere: the original's database is never written.
    expect(config.stateDb).to.equal(join(dir, 'state', 'pwnm-sync', 'state.db'));
  });

  it('prefers our own file and reads several instances', () => {
    write('.pwnm-sync.ini', '[Defaults]\nsync = ignored\n');
    mkdirSync(join(dir, 'config', 'pwnm-sync'), { recursive: true });
    write('config/pwnm-sync/config.ini', '[pwnm-sync]\nprefer = local\nconcurrency = 6\n\n[instance ozlabs]\nurl = https://patchwork.ozlabs.org/api/1.3/\ntoken_command = pass show ozlabs\nsync = skiboot=skiboot@lists.ozlabs.org\n\n[instance kernel]\nurl = https://patchwork.kernel.org\nsync = netdevbpf=netdev@vger.kernel.org\n');
    const { config } = loadConfig({}, env);
    expect(config.prefer).to.equal('local');
    expect(config.concurrency).to.equal(6);
    expect(config.instances.map((i) => [i.name, i.url, i.tokenCommand])).to.deep.equal([
      ['ozlabs', 'https://patchwork.ozlabs.org', 'pass show ozlabs'],
      ['kernel', 'https://patchwork.kernel.org', undefined],
    ]);
  });

  it('reads tag_bundles globally and per instance (default mine), and refuses other values', () => {
    const file = write('b.ini', '[pwnm-sync]\ntag_bundles = all\n\n[instance a]\nurl = https://a.example.org\nsync = x=x@l.org\ntag_bundles = off\n\n[instance b]\nurl = https://b.example.org\nsync = y=y@l.org\n');
    const { config } = loadConfig({ configFile: file }, env);
    expect(config.tags.bundles).to.equal('all');
    expect(config.instances.map((i) => i.tagBundles)).to.deep.equal(['off', undefined]);
    const plain = write('c.ini', '[Defaults]\nsync = x=x@l.org\n');
    expect(loadConfig({ configFile: plain }, env).config.tags.bundles).to.equal('mine');
    const bad = write('d.ini', '[Defaults]\nsync = x=x@l.org\ntag_bundles = yes\n');
    expect(errorOf(() => loadConfig({ configFile: bad }, env)).message).to.equal(`${bad}:3: tag_bundles is mine, all or off, not "yes"`);
  });

  it('lets the original command-line flags override the file', () => {
    const file = write('a.ini', '[Defaults]\npatchwork_url = https://a.example.org\nsync = x=x@l.org\n');
    const { config } = loadConfig({ configFile: file, url: 'https://b.example.org', token: 'tok123456', sync: 'y=y@l.org', epoch: '2020-02-02' }, env);
    expect(config.instances[0]).to.deep.include({ url: 'https://b.example.org', token: 'tok123456', epoch: '2020-02-02', projects: [{ linkName: 'y', list: 'y@l.org' }] });
  });

  it('takes the token from PWNM_SYNC_TOKEN when the file has none', () => {
    const file = write('a.ini', '[Defaults]\nsync = x=x@l.org\n');
    const { config } = loadConfig({ configFile: file }, { ...env, PWNM_SYNC_TOKEN: 'envtoken123' });
    expect(config.instances[0]!.token).to.equal('envtoken123');
  });

  it('names the file, the line and the fix for a bad line', () => {
    const file = write('bad.ini', '[Defaults]\nsync = skiboot=skiboot@lists.ozlabs.org\nepoch = last tuesday\n');
    const err = errorOf(() => loadConfig({ configFile: file }, env));
    expect(err.code).to.equal('CONFIG');
    expect(err.message).to.equal(`${file}:3: epoch "last tuesday" is not a date; write it as YYYY-MM-DD`);
  });

  for (const [text, pattern] of [
    ['[Defaults]\nsync = a=b=c\n', /bad\.ini:2: cannot read sync entry "a=b=c"; write it as project=list@host/],
    ['[Defaults]\npatchwork_url = ftp://x\nsync = a\n', /bad\.ini:2: "ftp:\/\/x" must start with https:\/\/ or http:\/\//],
    ['[Defaults]\nsnyc = a\n', /bad\.ini:2: unknown key "snyc" in \[Defaults\]; known keys: /],
    ['[Other]\n', /bad\.ini:1: unknown section \[Other\]/],
    ['sync = a\n', /bad\.ini:1: "sync" comes before any \[section\]/],
    ['[Defaults]\njust words\n', /bad\.ini:2: cannot read "just words"; write it as key = value/],
    ['[pwnm-sync]\nprefer = mine\n', /bad\.ini:2: prefer must be "server" or "local"/],
    ['[pwnm-sync]\nconcurrency = 99\n', /bad\.ini:2: "99" must be a whole number from 1 to 16/],
    ['[instance a]\nurl = https://x.org\n', /bad\.ini:1: instance a has no projects to sync; add sync = project=list@host/],
  ] as const) {
    it(`explains ${JSON.stringify(text.split('\n')[1] || text.split('\n')[0])}`, () => {
      const file = write('bad.ini', text);
      expect(errorOf(() => loadConfig({ configFile: file }, env)).message).to.match(pattern);
    });
  }

  it('warns when a file holding a token is readable by others', () => {
    const file = write('open.ini', '[Defaults]\npatchwork_token = secret123\nsync = a=a@l.org\n', 0o644);
    const { warnings } = loadConfig({ configFile: file }, env);
    expect(warnings[0]).to.equal(`${file} holds a Patchwork token and is readable by others; run chmod 600 ${file}`);
  });

  it('refuses a state database that is the original tool\'s syncdb', () => {
    const file = write('a.ini', `[Defaults]\nsync = a=a@l.org\nsyncdb = ${join(dir, 'same.db')}\n[pwnm-sync]\nstate_db = ${join(dir, 'same.db')}\n`);
    expect(errorOf(() => loadConfig({ configFile: file }, env)).message).to.match(/is the original tool's syncdb/);
  });

  it('parses sync lists with and without list addresses', () => {
    expect(parseSync('a=a@x.org, b ,c=c@y.org', 'here')).to.deep.equal([{ linkName: 'a', list: 'a@x.org' }, { linkName: 'b' }, { linkName: 'c', list: 'c@y.org' }]);
  });
});

