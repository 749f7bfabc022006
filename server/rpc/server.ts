import type { Readable, Writable } from 'node:stream';
import { CancellationToken, CancellationTokenSource, createMessageConnection, ResponseError, type Message, type MessageConnection, type ResponseMessage } from 'vscode-jsonrpc/node.js';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';
import type { ConfigOverrides } from '../config.js';
import { withSignal } from '../cancel.js';
import { PwnmError } from '../errors.js';
import { redact, redactJson } from '../secrets.js';
import { toResponseError } from './errors.js';
import { HANDLERS, SESSIONLESS, type Handler } from './handlers.js';
import { ServerState } from './state.js';

// `pwnm-sync serve`: JSON-RPC 2.0 over stdio with Content-Length framing.
// Handlers (rpc/handlers.ts) only translate between the protocol and the
// domain modules (ops/, git/, sync/); errors become JSON-RPC errors in one
// place (rpc/errors.ts). stdout carries protocol messages and nothing else;
// logs go to stderr.

export interface ServeOptions {
  input: Readable;
  output: Writable;
  overrides?: ConfigOverrides;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  onExit?: (code: number) => void;
}

/**
 * Every message we send passes here: results, errors and notifications
 * (window/logMessage, progress) alike, with every token the process holds
 * hidden, since a server's error text can quote anything.
 */
class RedactingWriter extends StreamMessageWriter {
  override write(msg: Message): Promise<void> {
    return super.write(redactJson(msg));
  }
}

/** Register a request handler whose errors become JSON-RPC errors. */
function register(state: ServerState, method: string, fn: Handler, overrides: ConfigOverrides, log: (line: string) => void): void {
  // vscode-jsonrpc passes (params, token), or only the token when a request has no params.
  state.connection.onRequest(method, async (...args: unknown[]) => {
    const token = args[args.length - 1] as CancellationToken;
    const raw = args.length > 1 ? args[0] : undefined;
    // Cancelled by $/cancelRequest (vscode-jsonrpc's token) or by `cancel` with the request's cancelToken.
    const source = new CancellationTokenSource();
    const abort = new AbortController();
    token.onCancellationRequested(() => source.cancel());
    source.token.onCancellationRequested(() => abort.abort());
    const key = cancelTokenOf(raw);
    if (key !== undefined) state.cancellable.set(key, source);
    const work = Promise.resolve().then(() => withSignal(abort.signal, () => fn(state, raw, source.token, overrides)));
    if (!SESSIONLESS.has(method)) state.inFlight.add(work);
    try {
      return await work;
    } catch (err) {
      if (!(err instanceof ResponseError) && !(err instanceof PwnmError)) log(`internal error in ${method}: ${String((err as Error).stack ?? err)}`);
      throw toResponseError(err);
    } finally {
      state.inFlight.delete(work);
      if (key !== undefined && state.cancellable.get(key) === source) state.cancellable.delete(key);
      source.dispose();
    }
  });
}

/** The client's name for a request, to cancel it with `cancel`. */
function cancelTokenOf(raw: unknown): string | undefined {
  const key = typeof raw === 'object' && raw !== null ? (raw as { cancelToken?: unknown }).cancelToken : undefined;
  return typeof key === 'string' ? key : undefined;
}

export function serve(options: ServeOptions): MessageConnection {
  const rawLog = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const log = (line: string): void => rawLog(redact(line));
  const exit = options.onExit ?? ((code: number) => process.exit(code));
  const writer = new RedactingWriter(options.output);
  const connection = createMessageConnection(new StreamMessageReader(options.input), writer, {
    error: (m) => log(`error: ${m}`),
    warn: (m) => log(`warn: ${m}`),
    info: (m) => log(`info: ${m}`),
    log: (m) => log(m),
  });
  const state = new ServerState(connection, options.env ?? process.env);
  for (const [method, fn] of Object.entries(HANDLERS)) register(state, method, fn, options.overrides ?? {}, log);
  connection.onNotification('cancelSync', () => void state.cancelSync());
  connection.onNotification('cancel', (raw: unknown) => void state.cancel(String((raw as { token?: unknown } | null)?.token)));
  connection.onNotification('exit', () => {
    connection.dispose();
    exit(state.shutdown ? 0 : 1);
  });
  // A frame we cannot read gets a parse error (id null), and we read on.
  connection.onError(([error]) => {
    log(`bad message: ${error.message}`);
    // Through the connection's own writer, so the frame cannot split another.
    void writer.write({ jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: ${error.message.split('\n')[0]}` } } as ResponseMessage);
  });
  // The client went away: stop cleanly, keep what was committed.
  connection.onClose(async () => {
    await state.stopAll();
    exit(0);
  });
  connection.listen();
  return connection;
}
