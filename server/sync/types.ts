import type { Prefer } from '../config.js';
import type { RulesResult } from '../mail/rules.js';
import type { TrailersSummary } from '../mail/trailers.js';

// What a sync is asked to do and what it reports.

export interface SyncOptions {
  projects?: readonly string[];
  epoch?: string;
  full?: boolean;
  dryRun?: boolean;
  /** No network: tag arrived mail from the state database, record local changes. */
  localOnly?: boolean;
  /** Only these messages: no fetching, push their local changes now (the Emacs hook). */
  messageIds?: readonly string[];
  prefer?: Prefer;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Told of every message whose tags or Patchwork state this sync changed or could not change. */
  onMessage?: (event: MessageEvent) => void;
  /** Messages whose tags a project's sync keeps in memory before it moves them to SQLite (tests set it low). */
  spillAfter?: number;
}

export interface MessageEvent {
  msgid: string;
  project: string;
  kind: 'retagged' | 'pushed' | 'queued' | 'refused' | 'ambiguous' | 'conflict';
  state?: string;
  reason?: string;
}

export interface Progress {
  phase: 'fetch' | 'tag' | 'push' | 'done';
  project: string;
  done: number;
  total: number;
  message: string;
}

export interface Report {
  msgid: string;
  patchId?: number;
  local?: string;
  remote?: string;
  reason: string;
}

export type RemoteMode = 'full' | 'events' | 'window' | 'none';

export interface ProjectSummary {
  instance: string;
  project: string;
  mode: RemoteMode;
  local: 'full' | 'lastmod';
  since: string | null;
  fetched: number;
  eventsRead: number;
  retagged: number;
  pushed: number;
  conflicts: Report[];
  ambiguous: Report[];
  refused: Report[];
  queued: Report[];
  missingLocally: number;
  httpRequests: number;
  notmuchCalls: number;
  notes: string[];
  errors: string[];
}

export interface SyncSummary {
  dryRun: boolean;
  durationMs: number;
  projects: ProjectSummary[];
  /** Notmuch process calls in all, including the shared ones. */
  notmuchCalls: number;
  /** True when every change went through (nothing refused, queued or failed). */
  ok: boolean;
  /** What the rules did after the sync (server/mail/rules.ts); absent on a dry, local-only or focused run. */
  rules?: RulesResult;
  /** Why the rules could not run, if they could not. */
  rulesError?: string;
  /** Review trailers tagged after the sync (server/mail/trailers.ts); absent on a dry or focused run. */
  trailers?: TrailersSummary;
  /** Why trailer tagging could not run, if it could not. */
  trailersError?: string;
}
