/**
 * One maintenance leader among all consumers: each consumer process tries, every interval, to take
 * a session-level PostgreSQL advisory lock on a connection of its own (`session`, a pool of one
 * connection). The one that holds it runs maintenance; the others keep trying. When the leader
 * dies, PostgreSQL ends its session and frees the lock, and the next consumer to try becomes the
 * leader. Before each round the leader checks in `pg_locks` that its session still holds the lock:
 * a connection that broke and came back is a new session without it. The key is per schema, so
 * stacks sharing a database (and tests) elect their own leaders.
 *
 * With PGlite (`deno task dev`, one connection) the process's only pool is the session.
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
  /** Called after each round with its result (logging, soak figures). */
  onRound?: (result: unknown) => void;
}

/** Starts trying to lead; see the module comment. */
export function startMaintenanceLeader(
  deps: {
    /** A pool of one connection (`max: 1`) used only for the lock: its session holds it. */
    session: Sql;
  },
  options: MaintenanceLeaderOptions,
): MaintenanceLeader {
  const { session } = deps;
  let leading = false;
  let stopped = false;
  let running: Promise<boolean> = Promise.resolve(false);

  async function acquire(): Promise<boolean> {
    try {
      const [row] = await session<{ ok: boolean }[]>`
        select pg_try_advisory_lock(hashtext(current_schema() || '.scalestream.maintenance')) as ok`;
      return row?.ok === true;
    } catch (err) {
      log.warn("Could not try the maintenance lock: {error}", { error: String(err) });
      return false;
    }
  }

  /** The session is the lock's alone, so any advisory lock it holds is this one. */
  async function stillHeld(): Promise<boolean> {
    try {
      const [row] = await session<{ held: boolean }[]>`
        select exists (
          select 1 from pg_locks
          where locktype = 'advisory' and pid = pg_backend_pid() and granted) as held`;
      return row?.held === true;
    } catch {
      return false;
    }
  }

  async function tickOnce(): Promise<boolean> {
    if (stopped) return false;
    if (leading && !(await stillHeld())) {
      log.warn("Lost the maintenance lead: the session that held the lock ended");
      leading = false;
    }
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
          await session`select pg_advisory_unlock_all()`;
        } catch {
          // the session is gone, and its lock with it
        }
      }
    },
  };
}
