import { existsSync, readFileSync } from 'node:fs';

// Read once from package.json so `--version`, the User-Agent and the
// JSON-RPC `initialize` answer can never disagree. dist/ sits one level
// below it; the tests' build/server/ two.
const file = ['../package.json', '../../package.json'].map((p) => new URL(p, import.meta.url)).find((u) => existsSync(u))!;
const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version: string };

export const VERSION: string = pkg.version;
export const USER_AGENT = `pwnm-sync/${VERSION}`;
