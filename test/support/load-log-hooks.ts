import { writeSync } from 'node:fs';

// Module hooks (run in Node's loader thread): log each resolved URL to fd 2.

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string }> {
  const result = await next(specifier, context);
  writeSync(2, `pwnm-load ${result.url}\n`);
  return result;
}
