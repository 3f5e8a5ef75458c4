/**
 * One maintenance leader among all consumers: each consumer process tries, every interval, to take
 * a session-level PostgreSQL advisory lock on a dedicated connection. The one that holds it runs
 * maintenance; the others keep trying. When the leader dies, PostgreSQL ends its session and frees
 * the lock, and the next consumer to try becomes the leader; when its connection breaks, it stops
 * leading until it takes the lock again. The key is per schema, so stacks sharing a database (and
 * tests) elect their own leaders.
 *
 * With a single-connection pool (PGlite in `deno task dev`) there is no connection to dedicate:
 * the lock is taken through the pool, whose one session is the process's own.
 */
import { getLogger, type Sql } from "../shared/mod.ts";

const log = getLogger(["scalestream", "maintenance"]);

export interface MaintenanceLeader {
  /** Whether this process holds the lock (as of the last tick). */
  isLeader(): boolean;
  /** Tries to lead, and runs one round when leading; resolves to whether it led. */
  tick(): Promise<boolean>;
  /** Stops the timer, waits for a running round, and gives the lock up. */
  stop(): Promise<void>;
}

export interface MaintenanceLeaderOptions {
  /** Time between ticks (0 = no timer: call `tick()` yourself). */
  intervalMs: number;
  /** The work of one round, run only while leading. */
  run: () => Promise<unknown>;
  /** Take the lock on a reserved connection (default true; false for a one-connection pool). */
  dedicatedConnection?: boolean;
  /** Called after each round with its result (logging, metrics, soak figures). */
  onRound?: (result: unknown) => void;
}

type Session = Pick<Sql, "unsafe"> & { <T>(s: TemplateStringsArray, ...v: unknown[]): Promise<T> };

/** Starts trying to lead; see the module comment. */
export function startMaintenanceLeader(
  deps: { sql: Sql },
  options: MaintenanceLeaderOptions,
): MaintenanceLeader {
  const dedicated = options.dedicatedConnection ?? true;
  let reserved: Awaited<ReturnType<Sql["reserve"]>> | undefined;
  let leading = false;
  let stopped = false;
  let running: Promise<boolean> = Promise.resolve(false);

  const session = (): Session => (reserved ?? deps.sql) as unknown as Session;

  async function acquire(): Promise<boolean> {
    if (dedicated) reserved = await deps.sql.reserve();
    try {
      const [row] = await session()<{ ok: boolean }[]>`
        select pg_try_advisory_lock(hashtext(current_schema() || '.scalestream.maintenance')) as ok`;
      if (row?.ok) return true;
    } catch (err) {
      log.warn("Could not try the maintenance lock: {error}", { error: String(err) });
    }
    reserved?.release();
    reserved = undefined;
    return false;
  }

  /** The lock holds as long as its session answers (a dead session has released it). */
  async function stillLeading(): Promise<boolean> {
    try {
      const [row] = await session()<{ held: boolean }[]>`
        select exists (
          select 1 from pg_locks
          where locktype = 'advisory' and pid = pg_backend_pid() and granted
            and objid = (hashtext(current_schema() || '.scalestream.maintenance')::bigint
                         & 4294967295)::oid) as held`;
      return row?.held === true;
    } catch {
      return false;
    }
  }

  async function loseLeadership(reason: string) {
    log.warn("Lost the maintenance lead: {reason}", { reason });
    leading = false;
    // Ending the connection is what frees a lock whose session may still be alive.
    const r = reserved;
    reserved = undefined;
    if (r) {
      try {
        await r`select pg_advisory_unlock_all()`;
      } catch {
        // the session is gone, and its lock with it
      }
      r.release();
    }
  }

  async function tickOnce(): Promise<boolean> {
    if (stopped) return false;
    if (leading && !(await stillLeading())) await loseLeadership("its session ended");
    if (!leading) {
      leading = await acquire();
      if (leading) log.info("This process leads maintenance");
    }
    if (!leading) return false;
    try {
      const result = await options.run();
      options.onRound?.(result);
    } catch (err) {
      log.warn("Maintenance round failed: {error}", { error: String(err) });
    }
    return true;
  }

  const tick = () => (running = running.then(tickOnce, tickOnce));
  const timer = options.intervalMs > 0 ? setInterval(() => void tick(), options.intervalMs) : 0;
  return {
    isLeader: () => leading,
    tick,
    async stop() {
      if (timer) clearInterval(timer);
      await running.catch(() => {});
      stopped = true;
      if (leading) {
        leading = false;
        try {
          await session()`
            select pg_advisory_unlock(hashtext(current_schema() || '.scalestream.maintenance'))`;
        } catch {
          // the session is gone, and its lock with it
        }
      }
      reserved?.release();
      reserved = undefined;
    },
  };
}
