import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { PwnmError } from '../errors.js';

// One sync at a time per state database, across the CLI and the server: a
// lock file holding the owner's pid. A file left by a dead process is taken over.

export class SyncLock {
  private constructor(private readonly path: string) {}

  static acquire(stateDb: string): SyncLock {
    const path = `${stateDb}.lock`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return new SyncLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(readFileSafe(path));
        if (pid && pid !== process.pid && isAlive(pid)) {
          throw new PwnmError('SYNC_RUNNING', `another pwnm-sync (pid ${pid}) is syncing ${stateDb}; wait for it to finish`, { details: { pid } });
        }
        if (pid === process.pid) throw new PwnmError('SYNC_RUNNING', 'a sync is already running in this process; wait for it to finish');
        try { unlinkSync(path); } catch { /* raced with another taker */ }
      }
    }
    throw new PwnmError('SYNC_RUNNING', `could not take the lock ${path}`);
  }

  release(): void {
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}

function readFileSafe(path: string): string {
  try { return readFileSync(path, 'utf8'); } catch { return ''; }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
