import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonrpcVersions, makeEnv, runErt, skipIfMissing, type TestEnv } from './helpers.js';

// The cockpit (issue 25): the Y transient, the facts line in show, the
// lists. ERT in `emacs --batch` with the real notmuch-emacs, the real
// server and the sandbox, steered through a small control endpoint.

function control(t: TestEnv): Promise<Server> {
  const data = t.sandbox.data;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const patch = q.get('msgid') ? [...data.patches.values()].find((p) => p.msgid === `<${q.get('msgid')}>`) : undefined;
    let body: unknown = { ok: true };
    switch (url.pathname) {
      case '/patches': body = [...data.patches.values()].map((p) => ({ id: p.id, msgid: p.msgid.slice(1, -1), state: p.state, series: p.series })); break;
      case '/check': data.addCheck(patch!.id, t.maint.id, { state: q.get('state') as 'fail', context: q.get('context')! }); break;
      case '/delegate': data.setDelegate(patch!.id, t.maint.id); break;
      case '/add-bundle': data.addBundle({ owner: t.maint.id, name: q.get('name')!, public: false, patches: q.get('msgids')!.split(',').map((m) => [...data.patches.values()].find((p) => p.msgid === `<${m}>`)!.id) }); break;
      case '/requests': body = { requests: t.sandbox.requests }; break;
      case '/archive': patch!.archived = true; break;
      // A patch on Patchwork whose mail never reached notmuch, with the headers its mbox needs.
      case '/new-patch': {
        const msgid = `<${q.get('msgid')}>`;
        const subject = '[PATCH] fill: a patch whose mail was lost';
        const person = data.addPerson('Lost Sender', 'lost@example.org');
        data.addPatch({ project: t.project.id, msgid, name: subject, submitter: person.id, content: 'A patch body.\n',
          headers: { 'Message-Id': msgid, From: 'Lost Sender <lost@example.org>', Subject: subject, To: t.project.list_email } });
        break;
      }
      case '/fault': t.sandbox.faults = q.get('on') === '1' ? [{ method: 'PATCH', times: Infinity, status: 503, body: '{"detail":"busy"}' }] : []; break;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('Emacs cockpit: the Y menu, facts in show, lists', function () {
  this.timeout(300_000);

  for (const jsonrpc of jsonrpcVersions()) it(`passes its ERT suite against the real server, notmuch-emacs and the sandbox (${jsonrpc.label})`, async function () {
    skipIfMissing(this, jsonrpc);
    const t = await makeEnv({ patches: 30, stateMix: false });
    t.writeConfig('me = maint\n');
    const ctl = await control(t);
    try {
      const env = { ...t.env, PWNM_TEST_CONFIG: t.configFile, PWNM_TEST_CONTROL: `http://127.0.0.1:${(ctl.address() as AddressInfo).port}` };
      const r = await runErt('test/emacs/pwnm-sync-cockpit-tests.el', env, jsonrpc.dir);
      expect(r.exitCode, r.all.slice(-6000)).to.equal(0);
      // Every test ran: none skipped, none missing.
      expect(r.all).to.match(/Ran 8 tests, 8 results as expected, 0 unexpected/);
    } finally {
      ctl.close();
      await t.cleanup();
    }
  });
});
