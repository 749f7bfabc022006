import { PwnmError } from './errors.js';

// A small INI reader in the dialect of Python's configparser, which wrote the
// original tool's ~/.pwnm-sync.ini: `key = value` or `key: value`, `#` and `;`
// comment lines, indented continuation lines. Every entry keeps its line
// number so that config errors can point at it.

export interface IniEntry { key: string; value: string; line: number }
export interface IniSection { name: string; line: number; entries: IniEntry[] }

export function parseIni(text: string, file: string): IniSection[] {
  const sections: IniSection[] = [];
  let current: IniSection | undefined;
  let last: IniEntry | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) {
      last = undefined;
      return;
    }
    if (/^\s/.test(raw) && last) {
      last.value = `${last.value}\n${trimmed}`;
      return;
    }
    const header = /^\[([^\]]+)\]$/.exec(trimmed);
    if (header) {
      current = { name: header[1]!.trim(), line, entries: [] };
      sections.push(current);
      last = undefined;
      return;
    }
    const pair = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (!pair) {
      throw new PwnmError('CONFIG', `${file}:${line}: cannot read "${trimmed}"; write it as key = value`);
    }
    if (!current) {
      throw new PwnmError('CONFIG', `${file}:${line}: "${pair[1]}" comes before any [section]; put it under [Defaults] or [pwnm-sync]`);
    }
    last = { key: pair[1]!.toLowerCase(), value: pair[2]!, line };
    current.entries.push(last);
  });
  return sections;
}
