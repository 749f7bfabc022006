import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Notmuch } from '../notmuch/notmuch.js';

// `pwnm-sync hook install|uninstall`: one line in notmuch's post-new hook,
// so that mail arriving with `notmuch new` is tagged from the state
// database at once (--local-only: no network). Whatever the hook already
// does is kept; uninstall removes exactly our line.

export const MARKER = '# pwnm-sync: tag new patch mail (pwnm-sync hook install)';

export async function hookFile(notmuch: Notmuch): Promise<string> {
  let dir: string;
  try {
    dir = (await notmuch.configGet('database.hook_dir')).trim();
  } catch {
    dir = '';
  }
  if (!dir) dir = join((await notmuch.databasePath()).trim(), '.notmuch', 'hooks');
  return join(dir, 'post-new');
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The hook line: this very program, with the config it was given. */
export function hookLine(command: readonly string[], configFile?: string): string {
  const args = [...command, ...(configFile ? ['-c', configFile] : []), 'sync', '--local-only'];
  // A failure must not make `notmuch new` report an error for a tagging hiccup.
  return `${args.map(quote).join(' ')} >/dev/null || true ${MARKER}`;
}

export interface HookResult { file: string; action: 'installed' | 'updated' | 'unchanged' | 'removed' | 'absent' }

export function installHook(file: string, line: string): HookResult {
  mkdirSync(join(file, '..'), { recursive: true });
  if (!existsSync(file)) {
    writeFileSync(file, `#!/bin/sh\n${line}\n`, { mode: 0o755 });
    return { file, action: 'installed' };
  }
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.includes(MARKER));
  let action: HookResult['action'];
  if (at >= 0) {
    if (lines[at] === line) return { file, action: 'unchanged' };
    lines[at] = line;
    action = 'updated';
  } else {
    if (lines.at(-1) === '') lines.pop();
    lines.push(line, '');
    action = 'installed';
  }
  writeFileSync(file, lines.join('\n'));
  chmodSync(file, statSync(file).mode | 0o111);
  return { file, action };
}

export function uninstallHook(file: string): HookResult {
  if (!existsSync(file)) return { file, action: 'absent' };
  const text = readFileSync(file, 'utf8');
  const kept = text.split('\n').filter((l) => !l.includes(MARKER));
  if (kept.length === text.split('\n').length) return { file, action: 'absent' };
  // A hook that was only ours goes; anyone else's stays, minus our line.
  if (kept.filter((l) => l.trim() && !l.startsWith('#!')).length === 0) rmSync(file);
  else writeFileSync(file, kept.join('\n'));
  return { file, action: 'removed' };
}

export function hookInstalled(file: string): boolean {
  return existsSync(file) && readFileSync(file, 'utf8').includes(MARKER);
}
