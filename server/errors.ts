// One error family for the whole program. `code` is stable: the CLI maps it
// to an exit status and the JSON-RPC layer to an error code, in one place each.

export type ErrorCode =
  | 'USAGE'              // bad command line
  | 'CONFIG'             // bad config file or value
  | 'AUTH'               // Patchwork rejected the token itself
  | 'FORBIDDEN'          // valid token, not allowed (not a maintainer)
  | 'NOT_FOUND'          // Patchwork has no such object
  | 'PROJECT_UNKNOWN'    // configured project does not exist on the instance
  | 'BAD_REQUEST'        // Patchwork refused the values (e.g. unknown state)
  | 'HTTP'               // any other unexpected HTTP status
  | 'UNREACHABLE'        // network error or timeout after retries
  | 'NOT_JSON'           // an HTML page where JSON was expected (anti-bot wall)
  | 'NOTMUCH_MISSING'    // no notmuch binary
  | 'NOTMUCH_FAILED'     // notmuch exited non-zero
  | 'NOTMUCH_LOCKED'     // notmuch's write lock stayed held past our limit
  | 'SYNC_RUNNING'       // another sync holds the state database
  | 'CANCELLED'
  | 'GIT';               // the repository is not ready (dirty, am/rebase in progress) or git failed

export class PwnmError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for logs and JSON-RPC `data`; never holds a token. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PwnmError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Errors a later attempt may get past: the change stays queued. */
export function isTransient(err: unknown): boolean {
  return err instanceof PwnmError && (err.code === 'UNREACHABLE' || err.code === 'NOT_JSON' || err.code === 'HTTP' || err.code === 'NOTMUCH_LOCKED');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
