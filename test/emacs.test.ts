import { expect } from 'chai';
import { execa } from 'execa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { emacsBatch, jsonrpcVersions, makeEnv, NOTMUCH_ELISP, ROOT, runErt, skipIfMissing, type TestEnv } from './helpers.js';

// The Emacs package: byte-compile, checkdoc and package-lint, then ERT in
// `emacs --batch` with the real notmuch-emacs, the real server process and
// the sandbox, which this process hosts together with a small control
// endpoint the ERT tests use to look at and steer "Patchwork".


function control(t: TestEnv): Promise<Server> {
  const data = t.sandbox.data;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const patch = q.get('msgid') ? [...data.patches.values()].find((p) => p.msgid === `<${q.get('msgid')}>`) : undefined;
    let body: unknown = { ok: true };
    switch (url.pathname) {
      case '/patches': body = [...data.patches.values()].map((p) => ({ id: p.id, msgid: p.msgid.slice(1, -1), state: p.state, series: p.series })); break;
      case '/patch': body = patch ? { id: patch.id, state: patch.state, archived: patch.archived, delegate: patch.delegate === null ? null : data.users.get(patch.delegate)!.username } : null; break;
      case '/check': data.addCheck(patch!.id, t.maint.id, { state: q.get('state') as 'fail', context: q.get('context')!, target_url: q.get('url') }); break;
      case '/set': data.setState(patch!.id, q.get('state')!); break;
      case '/maintainer': t.project.maintainers = q.get('on') === '1' ? [t.maint.id] : []; break;
      case '/fault': t.sandbox.faults = q.get('on') === '1' ? [{ method: 'PATCH', times: Infinity, status: 503, body: '{"detail":"busy"}' }] : []; break;
      case '/delay': t.sandbox.delayMs = Number(q.get('ms')); break;
      case '/bundles': body = data.bundles.map((b) => ({ name: b.name, owner: data.users.get(b.owner)!.username, msgids: b.patches.map((id) => data.patches.get(id)!.msgid.slice(1, -1)) })); break;
      case '/add-bundle': data.addBundle({ owner: t.maint.id, name: q.get('name')!, public: false, patches: q.get('msgids')!.split(',').map((m) => [...data.patches.values()].find((p) => p.msgid === `<${m}>`)!.id) }); break;
      case '/inflight': body = { delaying: t.sandbox.delaying, abandoned: t.sandbox.abandoned, requests: t.sandbox.requests }; break;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('Emacs package', function () {
  this.timeout(300_000);

  for (const jsonrpc of jsonrpcVersions()) {
    for (const file of readdirSync(join(ROOT, 'elisp')).filter((f) => f.endsWith('.el'))) {
      it(`${file} byte-compiles with no warnings and passes checkdoc and package-lint, alone (${jsonrpc.label})`, async function () {
        skipIfMissing(this, jsonrpc);
        const r = await emacsBatch(['-l', 'test/emacs/check.el', `elisp/${file}`], undefined, jsonrpc.dir);
        const report = r.all.split('\n').filter((l) => /^(check|checkdoc|package-lint|byte-compile|jsonrpc from)/.test(l));
        console.log(report.map((l) => `      ${l}`).join('\n'));
        expect(r.exitCode, r.all).to.equal(0);
        expect(r.all).to.match(/check: 0 problem\(s\)/);
        // No deprecation warning from jsonrpc (its :events-buffer-scrollback-size) when the package loads.
        expect(r.all).not.to.match(/deprecated/i);
      });
    }
  }

  it('installs with package-install-file of the npm run elisp-package tarball and loads from its own directory', async () => {
    const t = await makeEnv({ patches: 1 });
    try {
      const made = await execa('node', [join(ROOT, 'scripts', 'elisp-package.mjs')], { reject: false, all: true });
      expect(made.exitCode, made.all).to.equal(0);
      const tarball = made.stdout.trim();
      const r = await execa('emacs', ['--batch', '-Q', '-L', NOTMUCH_ELISP, '--eval', `(progn (require 'package) (setq package-user-dir "${join(t.dir, 'elpa')}") (add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa") (package-initialize) (package-install-file "${tarball}") (require 'pwnm-sync) (princ (format "installed %s %s" (locate-library "pwnm-sync") (commandp 'pwnm-sync-dispatch))))`], { reject: false, all: true });
      expect(r.exitCode, r.all).to.equal(0);
      expect(r.all).to.match(/installed .*elpa\/pwnm-sync-0\.1\.0\/pwnm-sync\.elc? t/);
    } finally {
      await t.cleanup();
    }
  });

  for (const jsonrpc of jsonrpcVersions()) it(`passes the ERT suite against the real server, notmuch-emacs and the sandbox (${jsonrpc.label})`, async function () {
    skipIfMissing(this, jsonrpc);
    const t = await makeEnv({ patches: 30, stateMix: false });
    t.writeConfig('me = maint\n');
    const ctl = await control(t);
    try {
      const env = {
        ...t.env,
        PWNM_TEST_CONFIG: t.configFile,
        PWNM_TEST_CONTROL: `http://127.0.0.1:${(ctl.address() as AddressInfo).port}`,
      };
      const file = 'test/emacs/pwnm-sync-tests.el';
      const r = await runErt(file, env, jsonrpc.dir);
      // What the responsiveness tests measured (they assert wide bounds).
      console.log(r.all.split('\n').filter((l) => l.startsWith('test figure:')).map((l) => `      ${l}`).join('\n'));
      expect(r.exitCode, r.all.slice(-6000)).to.equal(0);
      // Every test in the file ran and passed: none skipped, none lost to a run that stopped early.
      const defined = readFileSync(join(ROOT, file), 'utf8').match(/^\(ert-deftest /gm)?.length ?? 0;
      expect(r.all).to.match(new RegExp(`^Ran ${defined} tests, ${defined} results as expected, 0 unexpected \\(`, 'm'));
    } finally {
      ctl.close();
      await t.cleanup();
    }
  });
});
