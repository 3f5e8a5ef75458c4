/** A 10× backlog built with no consumer running, then drained, with consumer memory over time. */
import { runWithFaults, type Scenario } from "./scenario.ts";

export const backlogDrain: Scenario = {
  name: "backlog-10x",
  description: "10× the usual run queued with no consumer, then drained by 2 consumers",
  stack: {},
  async run(ctx, stack) {
    const events = ctx.quick ? 100_000 : 600_000;
    const r = await runWithFaults(ctx, stack, "backlog-10x", {
      events,
      rate: 100_000,
      seed: 808,
      consumers: 0,
      drainTimeoutMs: ctx.quick ? 120_000 : 400_000,
      keepSeries: true,
      async during(run) {
        await run.producer.status; // the backlog is complete before any consumer starts
        const depth = await stack.depth(stack.queueUrl);
        const at = Date.now();
        run.fault("10× backlog", at);
        stack.spawnConsumer("backlog-10x-c1");
        stack.spawnConsumer("backlog-10x-c2");
        run.note(`${events} events in ${depth} messages queued before the consumers started`);
      },
    });
    const rate = Math.round(r.events / (r.drainMs / 1000));
    r.notes.push(`drained in ${(r.drainMs / 1000).toFixed(1)} s (${rate} events/s incl. start-up)`);
    return r;
  },
};
