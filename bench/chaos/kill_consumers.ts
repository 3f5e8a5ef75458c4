/** kill -9 of consumer processes at random instants (≥ 10 per run), each replaced at once. */
import { runWithFaults, type Scenario } from "./scenario.ts";
import { delay } from "../../shared/mod.ts";

export const killConsumers: Scenario = {
  name: "kill-9",
  description: "kill -9 of a random consumer process at random instants; a new one starts at once",
  // A killed consumer's messages come back after the visibility timeout: keep it short.
  stack: { visibilityTimeoutS: 5 },
  run: (ctx, stack) =>
    runWithFaults(ctx, stack, "kill-9", {
      events: ctx.quick ? 12_000 : 90_000,
      rate: ctx.quick ? 1500 : 3000,
      seed: 101,
      consumers: 3,
      drainTimeoutMs: 90_000,
      async during(run) {
        const kills = ctx.quick ? 10 : 30;
        let next = 3;
        await delay(1500, run.signal);
        for (let n = 0; n < kills && !run.signal.aborted;) {
          await delay(300 + Math.random() * 900, run.signal);
          const live = run.live();
          if (live.length === 0) continue;
          const victim = live[Math.floor(Math.random() * live.length)]!;
          const at = Date.now();
          victim.kill("SIGKILL");
          const status = await victim.status;
          if (status.signal !== "SIGKILL") run.note(`${victim.name} had exited before the kill`);
          run.fault("kill -9", at);
          stack.spawnConsumer(`kill-9-c${++next}`);
          n++;
        }
      },
    }),
};
