import type { Store } from './store.js';

// What `rules` remembers: where in notmuch's history it started (mail older
// than that is never acted on unless asked), and each reply a rule fired on.

export interface RulesMark { uuid: string; lastmod: number; started: string }

export function rulesMark(store: Store): RulesMark | undefined {
  const value = store.meta('rules-mark');
  return value ? (JSON.parse(value) as RulesMark) : undefined;
}

export function setRulesMark(store: Store, mark: RulesMark): void {
  store.setMeta('rules-mark', JSON.stringify(mark));
}

export function hasFired(store: Store, msgid: string, rule: string): boolean {
  return store.db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM rule_fired WHERE msgid = ? AND rule = ?').get(msgid, rule)!.n > 0;
}

export function recordFired(store: Store, msgid: string, rule: string, state: string, patches: number): void {
  store.db.prepare('INSERT OR IGNORE INTO rule_fired (msgid, rule, state, patches, at) VALUES (?, ?, ?, ?, ?)').run(msgid, rule, state, patches, new Date().toISOString());
}
