import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

// The Markdown tables in our documents render whole: a blank line inside a
// table ends it, and what follows shows as stray `|` text on GitHub.

/** Cells of a table row, split on unescaped pipes as GitHub does (code spans included). */
const cells = (row: string): number => row.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).length;
const DELIMITER = /^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

/** Problems with the tables of a Markdown text, one line each. */
export function tableProblems(text: string): string[] {
  const lines = text.split('\n');
  const problems: string[] = [];
  let fenced = false;
  let columns = 0; // of the table the previous line belongs to; 0: none
  let ended = 0; // line number of the last row of a table that a blank line just ended
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) { columns = 0; continue; }
    const isRow = line.trimStart().startsWith('|');
    if (!isRow) {
      if (columns && line.trim() === '') ended = i;
      else ended = 0;
      columns = 0;
      continue;
    }
    if (columns) {
      if (cells(line) !== columns) problems.push(`line ${i + 1}: ${cells(line)} cells, the table's header has ${columns}`);
      continue;
    }
    if (DELIMITER.test(lines[i + 1] ?? '')) {
      columns = cells(line);
      if (cells(lines[i + 1]!) !== columns) problems.push(`line ${i + 2}: the delimiter row has ${cells(lines[i + 1]!)} cells, the header ${columns}`);
      i++;
      ended = 0;
      continue;
    }
    problems.push(ended ? `line ${i + 1}: a table row after the blank line ${ended + 1}, which ended the table above` : `line ${i + 1}: a table row with no header and delimiter row above`);
    ended = 0;
  }
  return problems;
}

describe('documents', () => {
  for (const file of ['README.md', 'CHANGELOG.md', 'docs/protocol.md']) {
    it(`${file}: every Markdown table is whole and its rows have the header's columns`, () => {
      expect(tableProblems(readFileSync(join(ROOT, file), 'utf8'))).to.deep.equal([]);
    });
  }

  it('README names no pwnm-sync repository but the one package.json declares, and no "this machine"', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const declared = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { repository?: { url?: string } }).repository?.url;
    const repos = [...readme.matchAll(/https?:\/\/[\w.-]+\/[\w./-]*pwnm-sync[\w./-]*/g)].map((m) => m[0]);
    expect(repos.filter((url) => !declared?.includes(url.replace(/\.git$/, '')))).to.deep.equal([]);
    expect(readme).not.to.match(/this machine/i);
  });

  it('finds a table split by a blank line and a row with a wrong column count', () => {
    expect(tableProblems('| a | b |\n| --- | --- |\n| 1 | 2 |\n\n| 3 | 4 |\n')).to.deep.equal(['line 5: a table row after the blank line 4, which ended the table above']);
    expect(tableProblems('| a | b |\n| --- | --- |\n| 1 | 2 | 3 |\n| `x \\| y` | z |\n')).to.deep.equal(["line 3: 3 cells, the table's header has 2"]);
    expect(tableProblems('```\n| not | a table |\n```\n| a |\n| --- |\n\n| b | c |\n| --- | --- |\n')).to.deep.equal([]);
  });
});
