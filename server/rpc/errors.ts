import { ResponseError } from 'vscode-jsonrpc';
import { PwnmError, type ErrorCode } from '../errors.js';
import { redact } from '../util.js';

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
  INTERNAL: RpcCode.InternalError,
};

export function toResponseError(err: unknown, secrets: readonly string[]): ResponseError<unknown> {
  if (err instanceof ResponseError) return err;
  if (err instanceof PwnmError) {
    const data = JSON.parse(redact(JSON.stringify({ code: err.code, ...err.details }), secrets)) as unknown;
    return new ResponseError(BY_CODE[err.code], redact(err.message, secrets), data);
  }
  return new ResponseError(RpcCode.InternalError, redact(err instanceof Error ? err.message : String(err), secrets));
}

export function invalidParams(message: string): ResponseError<unknown> {
  return new ResponseError(RpcCode.InvalidParams, message);
}
