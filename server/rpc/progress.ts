import type { ApplyProgress } from '../git/apply.js';
import type { Progress } from '../sync/engine.js';
import type { ServerState } from './state.js';

// Progress as the protocol shows it: pwnm/progress, and LSP's $/progress
// when the client gave a workDoneToken.

/** Progress notifications at most this often (phase changes always go). */
const PROGRESS_EVERY_MS = 100;

export class WorkDone {
  constructor(private readonly state: ServerState, private readonly token: string | undefined) {}

  begin(title: string): void {
    if (this.token !== undefined) this.state.notify('$/progress', { token: this.token, value: { kind: 'begin', title, cancellable: true } });
  }

  report(message: string, percentage?: number): void {
    if (this.token !== undefined) this.state.notify('$/progress', { token: this.token, value: { kind: 'report', message, ...(percentage === undefined ? {} : { percentage }) } });
  }

  end(): void {
    if (this.token !== undefined) this.state.notify('$/progress', { token: this.token, value: { kind: 'end' } });
  }
}

/** A sync's progress, rate-limited. */
export function syncProgress(state: ServerState, work: WorkDone): (p: Progress) => void {
  let last = 0;
  let lastPhase = '';
  return (pr) => {
    const now = Date.now();
    if (now - last < PROGRESS_EVERY_MS && pr.phase === lastPhase) return;
    last = now;
    lastPhase = pr.phase;
    state.notify('pwnm/progress', pr);
    work.report(pr.message);
  };
}

/** An apply's progress: every step goes (a series has a handful of patches, not thousands). */
export function applyProgress(state: ServerState, work: WorkDone): (p: ApplyProgress) => void {
  return (pr) => {
    const done = pr.phase === 'applied' || pr.phase === 'checked' ? pr.index : pr.index - 1;
    const message = `${pr.phase} ${pr.index}/${pr.total} ${pr.subject}`;
    state.notify('pwnm/progress', { phase: 'apply', project: pr.project, done, total: pr.total, message, patch: pr });
    work.report(message, Math.round((100 * done) / pr.total));
  };
}
