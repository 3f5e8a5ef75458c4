/** 2 s of added latency, then connection resets, on the consumers' database link. */
import { runWithFaults, type Scenario } from "./scenario.ts";
import { delay } from "../../shared/mod.ts";

export const dbLatency: Scenario = {
  name: "db-latency-resets",
  description: "2 s added per round trip to PostgreSQL for a while, then its connections dropped",
  stack: { dbProxy: true },
  run: (ctx, stack) =>
    runWithFaults(ctx, stack, "db-latency-resets", {
      events: ctx.quick ? 12_000 : 80_000,
      rate: ctx.quick ? 1500 : 2500,
      seed: 404,
      consumers: 2,
      drainTimeoutMs: 120_000,
      async during(run) {
        const proxy = stack.dbProxy!;
        await delay(2000, run.signal);
        let at = Date.now();
        proxy.setLatency(2000);
        await delay(ctx.quick ? 8000 : 25_000, run.signal);
        proxy.setLatency(0);
        run.fault("2 s DB latency", at, Date.now());
        let dropped = 0;
        const resets = ctx.quick ? 3 : 10;
        for (let i = 0; i < resets && !run.signal.aborted; i++) {
          await delay(1000 + Math.random() * 1000, run.signal);
          at = Date.now();
          dropped += proxy.resetAll();
          run.fault("DB connection reset", at);
        }
        run.note(`${resets} resets dropped ${dropped} database connections`);
      },
    }),
};
