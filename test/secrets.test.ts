import { expect } from 'chai';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv, runCli, startServe, stopServe, type Served, type TestEnv } from './helpers.js';

// Tokens never printed, whatever their source: the config file, -t,
// PWNM_SYNC_TOKEN, token_command, or a client's initialize. "Patchwork"
// answers 500 with the token quoted in its error body, as a misbehaving
// proxy or server might; every output path must show <token> instead.

describe('secrets are never printed', function () {
  this.timeout(60_000);
  let t: TestEnv;
  let server: Served | undefined;
  afterEach(async () => {
    if (server) await stopServe(server);
    server = undefined;
    if (t) await t.cleanup();
  });

  /** Every Patchwork request fails with a 500 whose body quotes `token` (Retry-After: 0 spares the backoff). */
  const echoToken = (token: string): void => {
    t.sandbox.faults = [{ times: Infinity, status: 500, body: JSON.stringify({ detail: `proxy error for Token ${token}` }), headers: { 'Retry-After': '0' } }];
  };
  const run = (args: string[], env: NodeJS.ProcessEnv = t.env) => runCli(args, { env });
  /** A config with no token in it, the token coming from token_command. */
  const tokenCommandConfig = (token: string): string => {
    const file = join(t.dir, 'cmd.ini');
    writeFileSync(file, readFileSync(t.configFile, 'utf8').replace(/^token = .*$/m, `token_command = echo ${token}`), { mode: 0o600 });
    return file;
  };

  it('CLI: a token from token_command, PWNM_SYNC_TOKEN or -t is hidden on stdout, stderr and in --json', async () => {
    t = await makeEnv({ patches: 2 });
    const fromCommand = 'cmd-secret-0123456789abcdef';
    echoToken(fromCommand);
    for (const json of [false, true]) {
      const r = await run(['-c', tokenCommandConfig(fromCommand), 'sync', ...(json ? ['--json'] : [])]);
      expect(r.exitCode).to.equal(1);
      expect(r.all).not.to.include(fromCommand);
      // The error was printed, with the token hidden: the test sees the path it guards.
      expect(r.stdout).to.include('proxy error for Token <token>');
    }

    const fromEnv = 'env-secret-0123456789abcdef';
    echoToken(fromEnv);
    const noToken = join(t.dir, 'none.ini');
    writeFileSync(noToken, readFileSync(t.configFile, 'utf8').replace(/^token = .*$/m, ''), { mode: 0o600 });
    const e = await run(['-c', noToken, 'sync'], { ...t.env, PWNM_SYNC_TOKEN: fromEnv });
    expect(e.all).not.to.include(fromEnv);
    expect(e.stdout).to.include('Token <token>');

    const fromFlag = 'flag-secret-0123456789abcdef';
    echoToken(fromFlag);
    const f = await run(['-p', t.sandbox.url, '-t', fromFlag, '-s', 'skiboot=skiboot@lists.ozlabs.org', '--state-db', join(t.dir, 'flags.db')]);
    expect(f.all).not.to.include(fromFlag);
    expect(f.stdout).to.include('Token <token>');
  });

  it('serve: tokens from token_command, initialize and PWNM_SYNC_TOKEN are hidden in results, errors, logMessage and stderr', async () => {
    t = await makeEnv({ patches: 2 });
    const fromCommand = 'cmd-secret-fedcba9876543210';
    echoToken(fromCommand);
    const first = startServe(t, ['-c', tokenCommandConfig(fromCommand)]);
    server = first;
    let raw = '';
    server.child.stdout.on('data', (d: Buffer) => { raw += d.toString(); });
    await server.conn.sendRequest('initialize', {});
    const summary = await server.conn.sendRequest<{ projects: { errors: string[] }[] }>('sync', {});
    expect(summary.projects[0]!.errors[0]).to.include('Token <token>');
    const info = await server.conn.sendRequest('patchInfo', { messageId: 'nobody@example.org', refresh: true }).catch((err: { message: string; data?: unknown }) => err);
    expect(JSON.stringify(info)).to.include('<token>');

    // A token given over RPC, then one from the environment, quoted in an error's data and in a warning.
    const fromClient = 'rpc-secret-fedcba9876543210';
    echoToken(fromClient);
    await server.conn.sendRequest('initialize', { tokens: { sandbox: fromClient } });
    const second = await server.conn.sendRequest<{ projects: { errors: string[] }[] }>('sync', {});
    expect(second.projects[0]!.errors[0]).to.include('Token <token>');
    // A broken frame (no method, no id) quoting both tokens: the server logs it on stderr, hidden.
    const frame = JSON.stringify({ jsonrpc: '2.0', params: { tokens: { sandbox: fromClient }, token_command: fromCommand } });
    first.child.stdin.write(`Content-Length: ${Buffer.byteLength(frame)}\r\n\r\n${frame}`);
    for (let i = 0; i < 100 && !first.stderr().includes('neither a response nor a notification'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(first.stderr()).to.include('"sandbox": "<token>"');
    await stopServe(server);

    const fromEnv = 'env-secret-fedcba9876543210';
    // A world-readable config whose path names the token: the warning about it goes out as window/logMessage.
    const dir = join(t.dir, fromEnv);
    mkdirSync(dir);
    const readable = join(dir, 'c.ini');
    writeFileSync(readable, readFileSync(t.configFile, 'utf8').replace(/^token = .*$/m, ''));
    chmodSync(readable, 0o644);
    server = startServe({ ...t, env: { ...t.env, PWNM_SYNC_TOKEN: fromEnv } }, ['-c', readable]);
    let raw2 = '';
    server.child.stdout.on('data', (d: Buffer) => { raw2 += d.toString(); });
    await server.conn.sendRequest('initialize', {});
    const log = server.notes.find((n) => n.method === 'window/logMessage');
    expect((log?.params as { message: string }).message).to.include('<token>/c.ini holds a Patchwork token');
    // Every process's stderr: the first held the token_command and initialize tokens and got the 500s.
    for (const text of [raw, raw2, first.stderr(), server.stderr()]) {
      for (const secret of [fromCommand, fromClient, fromEnv]) expect(text).not.to.include(secret);
    }
  });
});
