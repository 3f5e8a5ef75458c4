/**
 * A private PostgreSQL 15 cluster for tests that stop and start the database (the machine's shared
 * PostgreSQL must never be stopped). `initdb` + `pg_ctl` in a temporary directory owned by the
 * `postgres` user, on a free loopback port, trust auth; run through `runuser` when we are root.
 */
const BIN = "/usr/lib/postgresql/15/bin";

export interface PrivatePostgres {
  url: string;
  port: number;
  /** The cluster's data directory (its `postmaster.pid` names the server process). */
  dataDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

/** Whether this machine can run a private cluster (the binaries are there). */
export function privatePostgresAvailable(): boolean {
  try {
    Deno.statSync(`${BIN}/initdb`);
    return true;
  } catch {
    return false;
  }
}

/**
 * A free port below the usual ephemeral range (32768–60999), where outgoing connections take
 * theirs: a port the kernel hands out with port 0 can be taken by a client socket in the seconds
 * initdb takes, and the server then fails with "Address already in use".
 */
function freePort(): number {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* taken: try another */ }
  }
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function run(cmd: string, args: string[]): Promise<void> {
  const asPostgres = Deno.uid() === 0;
  const command = asPostgres
    ? new Deno.Command("runuser", { args: ["-u", "postgres", "--", cmd, ...args] })
    : new Deno.Command(cmd, { args });
  const out = await command.output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr);
    throw new Error(`"${cmd} ${args.join(" ")}" failed (${out.code}): ${err.slice(-2000)}`);
  }
}

/** Creates and starts a fresh cluster; `destroy()` removes it. */
/**
 * Settings of a cluster for benchmarks: durable commits and full-page writes as in production, so
 * WAL and CPU per event are what a real server would spend (tests run without them, for speed).
 */
export const BENCH_SETTINGS: Readonly<Record<string, string>> = {
  fsync: "on",
  synchronous_commit: "on",
  full_page_writes: "on",
  shared_buffers: "512MB",
  max_connections: "100",
  max_wal_size: "4GB",
  checkpoint_timeout: "30min",
};

export async function startPrivatePostgres(
  settings: Readonly<Record<string, string>> = {},
): Promise<PrivatePostgres> {
  const dir = await Deno.makeTempDir({ prefix: "scalestream-pg-" });
  const data = `${dir}/data`;
  if (Deno.uid() === 0) {
    const pw = await new Deno.Command("id", { args: ["-u", "postgres"] }).output();
    const gid = await new Deno.Command("id", { args: ["-g", "postgres"] }).output();
    const dec = (b: Uint8Array) => Number(new TextDecoder().decode(b).trim());
    await Deno.chown(dir, dec(pw.stdout), dec(gid.stdout));
  }
  const port = freePort();
  await run(`${BIN}/initdb`, [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-sync",
    "-E",
    "UTF8",
  ]);
  const merged: Record<string, string> = {
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    shared_buffers: "32MB",
    max_connections: "40",
    ...settings,
  };
  const opts = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    ...Object.entries(merged).map(([k, v]) => `-c ${k}=${v}`),
  ].join(" ");
  const start = () =>
    run(`${BIN}/pg_ctl`, ["-D", data, "-o", opts, "-l", `${dir}/log`, "-w", "-t", "30", "start"]);
  const stop = () => run(`${BIN}/pg_ctl`, ["-D", data, "-m", "fast", "-w", "stop"]);
  try {
    await start();
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  let running = true;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir: data,
    async stop() {
      await stop();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await stop().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
