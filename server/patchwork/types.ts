// The parts of Patchwork's REST API objects that pwnm-sync reads. Field
// presence follows the recorded 3.1.3 responses (test/fixtures/patchwork-3.1.3).

export interface PwUser { id: number; username: string; email?: string }

export interface PwProject {
  id: number;
  name: string;
  link_name: string;
  list_email: string;
  list_id?: string;
  web_url?: string;
}

export interface PwSeriesRef { id: number; name: string | null; version: number; url?: string; web_url?: string }

export interface PwPatch {
  id: number;
  url?: string;
  web_url?: string;
  project: { id: number; link_name: string };
  msgid: string;
  date: string;
  name: string;
  state: string;
  archived: boolean;
  hash?: string | null;
  delegate: PwUser | null;
  submitter?: { id: number; name: string | null; email: string };
  mbox?: string;
  series?: PwSeriesRef[];
  check?: string;
  commit_ref?: string | null;
}

export interface PwCheck {
  id: number;
  date: string;
  state: 'pending' | 'success' | 'warning' | 'fail';
  target_url: string | null;
  context: string;
  description: string | null;
  user?: { username: string };
}

export interface PwEvent {
  id: number;
  category: string;
  date: string;
  project: { id: number; link_name: string };
  /** Who did it (a check-created event's: the CI user). */
  actor?: { username: string } | null;
  payload: {
    patch?: { id: number; msgid: string; date?: string; name?: string; web_url?: string };
    previous_state?: string;
    current_state?: string;
    current_delegate?: PwUser | null;
    [key: string]: unknown;
  };
}
