// Preloaded (`--expose-gc --import`) into a pwnm-sync process by the GC test:
// collect garbage every 20 ms, from JavaScript and as a V8 task
// outside any JavaScript context. The second kind is the idle GC that made
// better-sqlite3 12 abort on Node 24 (its statements' ObjectWrap destructor
// needs an entered context); here it runs between every two requests.
const gc = globalThis.gc;
if (!gc) throw new Error('force-gc needs node --expose-gc');
setInterval(() => {
  gc();
  void gc({ type: 'major', execution: 'async' });
}, 20).unref();
