/** PostgreSQL restarted mid-run (a private cluster; the machine's shared one is never touched). */
import { runWithFaults, type Scenario } from "./scenario.ts";
import { delay } from "../../shared/mod.ts";

export const postgresRestart: Scenario = {
  name: "postgres-restart",
  description: "the PostgreSQL server stopped (fast shutdown) mid-run and started again",
  stack: { privatePostgres: true },
  run: (ctx, stack) =>
    runWithFaults(ctx, stack, "postgres-restart", {
      events: ctx.quick ? 10_000 : 60_000,
      rate: ctx.quick ? 1500 : 2000,
      seed: 202,
      consumers: 2,
      drainTimeoutMs: 90_000,
      async during(run) {
        const restarts = ctx.quick ? 1 : 2;
        const downMs = ctx.quick ? 3000 : 10_000;
        for (let i = 0; i < restarts && !run.signal.aborted; i++) {
          await delay(ctx.quick ? 2500 : 8000, run.signal);
          const at = Date.now();
          await stack.pg!.stop();
          await delay(downMs, run.signal);
          await stack.pg!.start();
          run.fault("PostgreSQL restart", at, Date.now());
        }
        run.note(`PostgreSQL down ${downMs / 1000} s per restart`);
      },
    }),
};
