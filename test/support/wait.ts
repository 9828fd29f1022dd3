// The one wait of the test suite: polls a condition until it holds or the deadline passes, then
// fails naming what it waited for. Returns how long it took. A synchronous condition (in-process
// state) is polled every 10 ms; an asynchronous one (an HTTP request to a node) every 50 ms, so
// that waiting does not load the node it watches.

export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  for (;;) {
    const result = condition();
    const pollMs = result instanceof Promise ? 50 : 10;
    if (await result) return performance.now() - started;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(pollMs);
  }
}
