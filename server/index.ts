// The library entry (package.json "exports"): the same domain code the CLI
// and the JSON-RPC server use, for scripts that want to drive a sync.

export { loadConfig, type Config, type ConfigOverrides, type InstanceConfig } from './config.js';
export { PwnmError, type ErrorCode } from './errors.js';
export { hashDiff } from './patchwork/hash.js';
export { Session, type SessionOptions } from './session.js';
export { counts, type ProjectCounts } from './ops/counts.js';
export { sync, type SyncOptions, type SyncSummary, type ProjectSummary } from './sync/engine.js';
export { setState, type SetStateResult } from './ops/set-state.js';
export { setDelegate } from './ops/delegate.js';
export { acceptFromGit, type AcceptOptions, type AcceptResult } from './git/accept.js';
export { VERSION } from './version.js';
