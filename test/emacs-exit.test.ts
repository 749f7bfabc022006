import { expect } from 'chai';
import { execa, execaSync } from 'execa';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, jsonrpcVersions, makeEnv, NOTMUCH_ELISP, ROOT, skipIfMissing, type TestEnv } from './helpers.js';

// Issue 24: no runaway when the server is killed or the terminal closes.
// A real interactive Emacs (`emacs -Q -nw`, in a tmux of its own) with the
// package, notmuch-hello on screen and the real server over real pipes,
// started through a wrapper that records each start. The tests steer
// Emacs with emacsclient and watch it from outside: a timer in Emacs
// touches a file, process ids come from the wrapper.

/** An Emacs with a terminal needs tmux: skip with one line without it (fail under CI=true). */
function skipWithoutTmux(ctx: Mocha.Context): void {
  if (execaSync('sh', ['-c', 'command -v tmux'], { reject: false }).exitCode === 0) return;
  if (process.env.CI === 'true') throw new Error('tmux is not installed');
  console.log('      skipped: tmux is not installed (apt-get install tmux)');
  ctx.skip();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether process `pid` runs (a zombie counts as not running, and is reported). */
function state(pid: number): 'running' | 'zombie' | 'gone' {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z') ? 'zombie' : 'running';
  } catch {
    return 'gone';
  }
}

/** Wait until `test()` holds, `ms` at most; return whether it did. */
async function until(test: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await test()) return true;
    await sleep(100);
  }
  return test();
}

interface Tty {
  dir: string;
  /** Evaluate FORM in the Emacs, 3 s at most; its printed value, or undefined when it gave none in time. */
  eval(form: string): Promise<string | undefined>;
  emacsPid: number;
  /** The pids of the servers started, in order. */
  starts(): number[];
  /** Milliseconds since Emacs's 0.2 s timer last touched its file. */
  sinceTick(): number;
  /** What the terminal shows. */
  screen(): Promise<string>;
  /** Close Emacs's terminal, as closing a terminal window does (tmux ends, its pty with it). */
  closeTerminal(): Promise<void>;
  stop(): Promise<void>;
}

async function startEmacs(t: TestEnv, jsonrpcDir: string | undefined): Promise<Tty> {
  const dir = t.dir;
  const startsFile = join(dir, 'server-starts');
  const wrapper = join(dir, 'serve.sh');
  writeFileSync(wrapper, `#!/bin/sh\necho $$ >> '${startsFile}'\nexec '${process.execPath}' '${CLI}' serve\n`);
  chmodSync(wrapper, 0o755);
  const tick = join(dir, 'tick');
  const init = join(dir, 'init.el');
  writeFileSync(init, `
(setq server-socket-dir "${dir}/server")
(server-start)
(require 'pwnm-sync)
(setq pwnm-sync-server-command '("${wrapper}")
      pwnm-sync-config-file "${t.configFile}"
      pwnm-sync-facts-file "${dir}/facts.eld")
(pwnm-sync-mode 1)
(notmuch-hello)
(run-with-timer 0.2 0.2 (lambda () (write-region "" nil "${tick}" nil 'quiet)))
`);
  const socket = `pwnm-${process.pid}-${Date.now()}`;
  const jsonrpc = jsonrpcDir ? `-L '${jsonrpcDir}' ` : '';
  const tmux = (args: string[]) => execa('tmux', ['-L', socket, ...args], { env: t.env, reject: false, timeout: 10_000 });
  await tmux(['new-session', '-d', '-x', '120', '-y', '40',
    `emacs -Q -nw ${jsonrpc}-L '${NOTMUCH_ELISP}' -L '${join(ROOT, 'elisp')}' -l '${init}'`]);
  const evalForm = async (form: string) => {
    const r = await execa('emacsclient', ['-s', join(dir, 'server', 'server'), '--eval', form], { env: t.env, reject: false, timeout: 3000 });
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  };
  if (!(await until(async () => (await evalForm('t')) === 't', 20_000))) throw new Error('Emacs in tmux did not start its server');
  const emacsPid = Number(await evalForm('(emacs-pid)'));
  return {
    dir,
    eval: evalForm,
    emacsPid,
    starts: () => (existsSync(startsFile) ? readFileSync(startsFile, 'utf8').trim().split('\n').map(Number) : []),
    sinceTick: () => (existsSync(tick) ? Date.now() - statSync(tick).mtimeMs : Infinity),
    async screen() {
      return (await tmux(['capture-pane', '-p'])).stdout;
    },
    async closeTerminal() {
      await tmux(['kill-server']);
    },
    async stop() {
      if (state(emacsPid) === 'running') process.kill(emacsPid, 'SIGKILL');
      await tmux(['kill-server']);
    },
  };
}

/** Wait until the package's server answered initialize. */
async function ready(tty: Tty): Promise<void> {
  const ok = await until(async () => (await tty.eval('(and pwnm-sync--connection (pwnm-sync--info pwnm-sync--connection) t)')) === 't', 30_000);
  expect(ok, 'the server answered initialize').to.equal(true);
}

describe('Emacs package: a killed server, a closed terminal (issue 24)', function () {
  this.timeout(120_000);

  for (const jsonrpc of jsonrpcVersions()) {
    /** Run `body` with an Emacs in tmux whose server has started once; stop both after. */
    const withEmacs = async (ctx: Mocha.Context, body: (tty: Tty, server: number) => Promise<void>): Promise<void> => {
      skipIfMissing(ctx, jsonrpc);
      skipWithoutTmux(ctx);
      const t = await makeEnv({ patches: 4 });
      const tty = await startEmacs(t, jsonrpc.dir);
      try {
        await ready(tty);
        expect(tty.starts()).to.have.length(1);
        await body(tty, tty.starts()[0]!);
      } finally {
        await tty.stop();
        await t.cleanup();
      }
    };

    it(`a server killed with SIGKILL: Emacs stays responsive, starts none in a loop, and exits at once when asked (${jsonrpc.label})`, async function () {
      await withEmacs(this, async (tty, first) => {
        process.kill(first, 'SIGKILL');
        // Emacs reaps it (no zombie) and forgets the connection.
        expect(await until(() => state(first) === 'gone', 3000), `server ${first} is ${state(first)}`).to.equal(true);
        expect(await until(async () => (await tty.eval('(null pwnm-sync--connection)')) === 't', 3000),
          `connection still there: ${await tty.eval('(list pwnm-sync--connection (process-list))')}; starts ${tty.starts().join(' ')}`).to.equal(true);
        await sleep(3000);
        // Responsive: its timer still runs, it answers at once, and no server was started behind our back.
        expect(tty.sinceTick()).to.be.below(1000);
        expect(await tty.eval('(+ 1 2)')).to.equal('3');
        expect(tty.starts()).to.have.length(1);
        // A hello redraw does not start it again (a server that keeps dying
        // would be started on each); a command does, once.
        await tty.eval('(with-current-buffer "*notmuch-hello*" (notmuch-hello-update))');
        await sleep(1500);
        expect(tty.starts()).to.have.length(1);
        await tty.eval('(pwnm-sync)');
        await ready(tty);
        await sleep(1500);
        expect(tty.starts()).to.have.length(2);
        // Asked to exit, Emacs goes within a few seconds and so does its server.
        const asked = Date.now();
        await tty.eval('(run-with-timer 0 nil #\'kill-emacs)');
        expect(await until(() => state(tty.emacsPid) === 'gone', 5000), 'Emacs exited').to.equal(true);
        console.log(`      test figure: Emacs exited ${Date.now() - asked} ms after kill-emacs`);
        for (const pid of tty.starts()) expect(await until(() => state(pid) === 'gone', 3000), `server ${pid} is ${state(pid)}`).to.equal(true);
      });
    });

    const endings: [string, (tty: Tty) => Promise<void>][] = [
      ['SIGHUP to Emacs', (tty) => Promise.resolve(void process.kill(tty.emacsPid, 'SIGHUP'))],
      ['its terminal closed', (tty) => tty.closeTerminal()],
    ];
    for (const [how, end] of endings) it(`${how}: Emacs exits within a few seconds and its server is gone (${jsonrpc.label})`, async function () {
      await withEmacs(this, async (tty, server) => {
        // hello redrawn with what the server said, then the terminal goes.
        expect(await until(async () => (await tty.eval('(with-current-buffer "*notmuch-hello*" (not (string-match-p "waiting for the pwnm-sync server" (buffer-string))))')) === 't', 10_000)).to.equal(true);
        await sleep(1000);
        const sent = Date.now();
        await end(tty);
        expect(await until(() => state(tty.emacsPid) === 'gone', 5000), `Emacs is ${state(tty.emacsPid)} 5 s after: ${how}; screen:\n${await tty.screen()}`).to.equal(true);
        console.log(`      test figure: Emacs exited ${Date.now() - sent} ms after: ${how}`);
        expect(await until(() => state(server) === 'gone', 3000), `server ${server} is ${state(server)}`).to.equal(true);
        expect(tty.starts()).to.have.length(1);
      });
    });
  }
});
