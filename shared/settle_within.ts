/**
 * Waiting with a bound: shutdown paths must finish within their deadline even when what they wait
 * for (a query to an unreachable database, a webhook) never answers.
 */

/**
 * Waits for `promise` at most `ms`; resolves true when it settled (either way) in time, false
 * when time ran out. Never rejects: a failure of `promise` is the caller's to log elsewhere.
 */
export function settleWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  const settled = promise.then(() => true, () => true);
  return Promise.race([settled, late]).finally(() => clearTimeout(timer));
}
