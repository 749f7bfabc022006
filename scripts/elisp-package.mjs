// npm run elisp-package: dist/pwnm-sync-VERSION.tar, a multi-file Emacs
// package for `package-install-file' (one .el of several no longer installs
// alone): the elisp/*.el files and a pwnm-sync-pkg.el, under pwnm-sync-VERSION/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const main = readFileSync(join(root, 'elisp', 'pwnm-sync.el'), 'utf8');
const version = /^;; Version: (\S+)$/m.exec(main)[1];
const requires = /^;; Package-Requires: (.+)$/m.exec(main)[1];
const name = `pwnm-sync-${version}`;
const work = mkdtempSync(join(tmpdir(), 'pwnm-elisp-'));
try {
  mkdirSync(join(work, name));
  for (const f of readdirSync(join(root, 'elisp')).filter((f) => f.endsWith('.el'))) copyFileSync(join(root, 'elisp', f), join(work, name, f));
  writeFileSync(join(work, name, 'pwnm-sync-pkg.el'),
    `;;; pwnm-sync-pkg.el --- Package description  -*- no-byte-compile: t -*-\n(define-package "pwnm-sync" "${version}" "Patchwork patch states in notmuch" '${requires} :url "https://github.com/pwnm-sync/pwnm-sync")\n`);
  mkdirSync(join(root, 'dist'), { recursive: true });
  const out = join(root, 'dist', `${name}.tar`);
  execFileSync('tar', ['-cf', out, '-C', work, name]);
  process.stdout.write(`${out}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
