/**
 * SIGTERM during a slow flush: latency on the database link (100 ms per round trip) makes every
 * flush transaction take seconds; the consumer is signalled while one is open and must commit it,
 * delete what committed and exit 0 before its 25 s deadline. A fresh consumer takes over each time.
 *
 * Why not 2 s as in the latency scenario: a flush on a fresh connection is ~20 round trips
 * (postgres.js describes each new statement before executing it), so at 2 s per round trip a
 * single flush (with the analytics stages, more statements still) outlasts the 25 s deadline and the consumer exits 1 (leaving its
 * messages to come back), which is the deadline path, not the graceful one this scenario proves.
 */

const LATENCY_MS = 100;
/** Bounded intake: what is in flight at the SIGTERM is about one flush. */
const ENV = { CONSUMER_MAX_INFLIGHT_EVENTS: "2000", CONSUMER_FLUSH_MAX_EVENTS: "1000" };
import { CannotHold, runWithFaults, type Scenario, waitFor } from "./scenario.ts";
import { delay } from "../../shared/mod.ts";

export const sigtermSlowFlush: Scenario = {
  name: "sigterm-slow-flush",
  description: "SIGTERM to a consumer while its flush transaction is held up by DB latency",
  stack: { dbProxy: true },
  run: (ctx, stack) =>
    runWithFaults(ctx, stack, "sigterm-slow-flush", {
      events: ctx.quick ? 8000 : 40_000,
      rate: ctx.quick ? 500 : 1000,
      seed: 505,
      consumers: 1,
      consumerEnv: ENV,
      drainTimeoutMs: 120_000,
      async during(run) {
        const proxy = stack.dbProxy!;
        const rounds = ctx.quick ? 2 : 5;
        const shutdowns: number[] = [];
        let n = 1;
        for (let i = 0; i < rounds && !run.signal.aborted; i++) {
          const consumer = run.live()[0] ?? stack.spawnConsumer(`sigterm-slow-flush-c${++n}`, ENV);
          // Start up at full speed (migrations), then slow the link down.
          const up = await waitFor(
            async () => {
              if (consumer.exited) throw new CannotHold(`${consumer.name} exited at start`);
              const [row] = await stack.sql<{ n: number }[]>`
              select count(*)::int as n from consumer_status where worker_id = ${consumer.name}`;
              return (row?.n ?? 0) > 0;
            },
            60_000,
            run.signal,
          );
          if (!up) throw new Error(`${consumer.name} did not start`);
          proxy.setLatency(LATENCY_MS);
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
          stack.spawnConsumer(`sigterm-slow-flush-c${++n}`, ENV);
          await delay(1000, run.signal);
        }
        run.note(
          `${LATENCY_MS} ms per DB round trip; graceful exits (code 0) after SIGTERM in a flush: ${
            shutdowns.map((ms) => (ms / 1000).toFixed(1) + " s").join(", ")
          } (deadline 25 s)`,
        );
      },
    }),
};
