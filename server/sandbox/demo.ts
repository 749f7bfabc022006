import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadConfig } from '../config.js';
import { idQuery } from '../notmuch/encoding.js';
import { formatCounts, formatSync } from '../report.js';
import { Session } from '../session.js';
import { counts } from '../ops/counts.js';
import { sync } from '../sync/engine.js';
import { generate } from './generator.js';
import { Sandbox } from './server.js';

// `pwnm-sync demo`: the whole loop with no account and no mail. A sandbox
// Patchwork on loopback, a throwaway maildir and notmuch database, a sync,
// one local state change, and a second sync that carries it to the server.

export interface DemoEnv {
  dir: string;
  sandbox: Sandbox;
  configFile: string;
  notmuchConfig: string;
  env: NodeJS.ProcessEnv;
}

/** A sandbox instance plus a maildir and notmuch database for `patches` patches of a `skiboot` list. */
export async function makeDemo(patches: number, dir = mkdtempSync(join(tmpdir(), 'pwnm-sync-demo-'))): Promise<DemoEnv & { token: string }> {
  const sandbox = new Sandbox();
  const url = await sandbox.start();
  const token = randomBytes(20).toString('hex');
  const maint = sandbox.data.addUser({ username: 'demo', token });
  const project = sandbox.data.addProject({ link_name: 'skiboot', name: 'skiboot firmware', list_email: 'skiboot@lists.ozlabs.org', maintainers: [maint.id] });
  const maildir = join(dir, 'mail');
  generate(sandbox.data, project, maildir, { patches, seed: 7 });
  const notmuchConfig = join(dir, 'notmuch-config');
  writeFileSync(notmuchConfig, `[database]\npath=${maildir}\n[new]\ntags=unread;inbox\n[user]\nname=Demo User\nprimary_email=demo@example.org\n[search]\nexclude_tags=\n`);
  const env = { ...process.env, NOTMUCH_CONFIG: notmuchConfig };
  await execa('notmuch', ['new', '--quiet'], { env });
  const configFile = join(dir, 'pwnm-sync.ini');
  writeFileSync(configFile, `# pwnm-sync demo config\n[pwnm-sync]\nstate_db = ${join(dir, 'state.db')}\n# the demo shows states; bundle tags cost a listing per sync (README)\ntag_bundles = off\n\n[instance sandbox]\nurl = ${url}\ntoken = ${token}\nsync = skiboot=skiboot@lists.ozlabs.org\n`, { mode: 0o600 });
  return { dir, sandbox, configFile, notmuchConfig, env, token };
}

export async function runDemo(options: { keep?: boolean; patches?: number; print?: (line: string) => void } = {}): Promise<void> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  print('Starting a sandbox Patchwork and generating patch mail...');
  const demo = await makeDemo(options.patches ?? 300);
  const session = new Session(loadConfig({ configFile: demo.configFile }, demo.env).config, { env: demo.env });
  try {
    print(`Sandbox Patchwork at ${demo.sandbox.url}; notmuch database in ${demo.dir}/mail\n`);
    print('First sync:');
    print(formatSync(await sync(session)));
    print('\nTags in notmuch:');
    print(formatCounts(await counts(session)));

    const newOnes = await session.notmuch.dump(`tag:${session.scheme.state('skiboot', 'new')}`);
    const msgid = [...newOnes.keys()][0]!;
    print(`\nMarking ${msgid} accepted in notmuch (notmuch tag -pw-skiboot-new +pw-skiboot-accepted)...`);
    await session.notmuch.tag([{ msgid, add: [session.scheme.state('skiboot', 'accepted')], remove: [session.scheme.state('skiboot', 'new')] }]);
    print('Second sync:');
    print(formatSync(await sync(session)));
    const patch = [...demo.sandbox.data.patches.values()].find((p) => p.msgid === `<${msgid}>`)!;
    print(`\nPatchwork now says patch ${patch.id} is ${patch.state}.`);
    const tags = (await session.notmuch.dump(idQuery(msgid))).get(msgid) ?? [];
    print(`notmuch tags of ${msgid}: ${tags.join(' ')}`);
    if (options.keep) {
      print(`\nKept ${demo.dir}. To look at it:\n  export NOTMUCH_CONFIG=${demo.notmuchConfig}\n  notmuch search tag:pw-skiboot-new\n  pwnm-sync -c ${demo.configFile} status\nIn Emacs: (setenv "NOTMUCH_CONFIG" "${demo.notmuchConfig}") (setq pwnm-sync-config-file "${demo.configFile}")\nThe sandbox Patchwork keeps serving at ${demo.sandbox.url}; press Ctrl-C to stop it.`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    await session.close();
    await demo.sandbox.stop();
    if (!options.keep) rmSync(demo.dir, { recursive: true, force: true });
  }
}
