import { ResponseError } from 'vscode-jsonrpc';
import { PwnmError, type ErrorCode } from '../errors.js';

// The one place where domain errors become JSON-RPC errors. Codes are
// stable: the Emacs package matches on them (docs/protocol.md).

export const RpcCode = {
  InvalidParams: -32602,
  InternalError: -32603,
  ServerNotInitialized: -32002,
  RequestCancelled: -32800,
  NotMaintainer: -32001,
  AuthFailed: -32003,
  ProjectUnknown: -32004,
  PatchworkUnreachable: -32005,
  NotmuchFailed: -32006,
  SyncRunning: -32007,
  ConfigError: -32008,
  NotFound: -32009,
  PatchworkRefused: -32010,
  GitRefused: -32011,
} as const;

const BY_CODE: Record<ErrorCode, number> = {
  USAGE: RpcCode.InvalidParams,
  CONFIG: RpcCode.ConfigError,
  AUTH: RpcCode.AuthFailed,
  FORBIDDEN: RpcCode.NotMaintainer,
  NOT_FOUND: RpcCode.NotFound,
  PROJECT_UNKNOWN: RpcCode.ProjectUnknown,
  BAD_REQUEST: RpcCode.PatchworkRefused,
  HTTP: RpcCode.PatchworkUnreachable,
  UNREACHABLE: RpcCode.PatchworkUnreachable,
  NOT_JSON: RpcCode.PatchworkUnreachable,
  NOTMUCH_MISSING: RpcCode.NotmuchFailed,
  NOTMUCH_FAILED: RpcCode.NotmuchFailed,
  NOTMUCH_LOCKED: RpcCode.NotmuchFailed,
  SYNC_RUNNING: RpcCode.SyncRunning,
  CANCELLED: RpcCode.RequestCancelled,
  GIT: RpcCode.GitRefused,
};

/** Tokens are hidden later, by the connection's writer (rpc/server.ts), for every message alike. */
export function toResponseError(err: unknown): ResponseError<unknown> {
  if (err instanceof ResponseError) return err;
  if (err instanceof PwnmError) return new ResponseError(BY_CODE[err.code], err.message, { code: err.code, ...err.details });
  return new ResponseError(RpcCode.InternalError, err instanceof Error ? err.message : String(err));
}

export function invalidParams(message: string): ResponseError<unknown> {
  return new ResponseError(RpcCode.InvalidParams, message);
}
