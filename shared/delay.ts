/**
 * Waits `ms` milliseconds; resolves early (never rejects) when `signal` aborts, so a loop that
 * sleeps between polls wakes at once on shutdown and checks its own state.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
