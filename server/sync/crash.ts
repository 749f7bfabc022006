// Named points where the crash-safety tests kill the process (kill -9 as
// a power cut would), chosen by PWNM_SYNC_CRASH_AT. Nothing happens unless
// that variable names the point.

export type CrashPoint = 'after-fetch' | 'after-tag' | 'after-push';

export function crashPoint(point: CrashPoint): void {
  if (process.env.PWNM_SYNC_CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}
