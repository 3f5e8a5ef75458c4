/**
 * SIGTERM during a slow flush: 2 s of latency on the database link makes every flush transaction
 * take seconds; the consumer is signalled while one is open and must commit it, delete what
 * committed and exit 0 before its deadline. A fresh consumer takes over each time.
 */
import { runWithFaults, type Scenario, sleep, waitFor } from "./scenario.ts";

export const sigtermSlowFlush: Scenario = {
  name: "sigterm-slow-flush",
  description: "SIGTERM to a consumer while its flush transaction is held up by 2 s DB latency",
  stack: { dbProxy: true },
  run: (ctx, stack) =>
    runWithFaults(ctx, stack, "sigterm-slow-flush", {
      events: ctx.quick ? 8000 : 40_000,
      rate: ctx.quick ? 500 : 1000,
      seed: 505,
      consumers: 1,
      drainTimeoutMs: 120_000,
      async during(run) {
        const proxy = stack.dbProxy!;
        const rounds = ctx.quick ? 2 : 5;
        const shutdowns: number[] = [];
        let n = 1;
        for (let i = 0; i < rounds && !run.signal.aborted; i++) {
          const consumer = run.live()[0] ?? stack.spawnConsumer(`sigterm-slow-flush-c${++n}`);
          // Start up at full speed (migrations), then slow the link down.
          const up = await waitFor(
            async () => {
              const [row] = await stack.sql<{ n: number }[]>`
              select count(*)::int as n from consumer_status where worker_id = ${consumer.name}`;
              return (row?.n ?? 0) > 0;
            },
            60_000,
            run.signal,
          );
          if (!up) throw new Error(`${consumer.name} did not start`);
          proxy.setLatency(2000);
          // A flush transaction is open on the consumer's connections: begun, not yet committed.
          const inFlush = await waitFor(
            async () => {
              const ports = proxy.upstreamPorts();
              const [row] = await stack.sql<{ n: number }[]>`
              select count(*)::int as n from pg_stat_activity
              where client_port = any(${ports}::int[])
                and (state = 'idle in transaction' or backend_xid is not null)`;
              return (row?.n ?? 0) > 0;
            },
            60_000,
            run.signal,
            100,
          );
          if (!inFlush) throw new Error("no flush transaction was seen in flight");
          const at = Date.now();
          consumer.kill("SIGTERM");
          const status = await consumer.status;
          const tookMs = Date.now() - at;
          shutdowns.push(tookMs);
          run.fault("SIGTERM in slow flush", at, Date.now());
          if (status.code !== 0) {
            throw new Error(`${consumer.name} exited ${status.code} after SIGTERM (${tookMs} ms)`);
          }
          proxy.setLatency(0);
          stack.spawnConsumer(`sigterm-slow-flush-c${++n}`);
          await sleep(1000, run.signal);
        }
        run.note(
          `graceful exits (code 0) after SIGTERM in a flush: ${
            shutdowns.map((ms) => (ms / 1000).toFixed(1) + " s").join(", ")
          } (deadline 25 s)`,
        );
      },
    }),
};
