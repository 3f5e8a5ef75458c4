/** The SQS endpoint unavailable: the consumers' link to fauxqs refused, then blackholed. */
import { runWithFaults, type Scenario } from "./scenario.ts";
import { delay } from "../../shared/mod.ts";

export const sqsOutage: Scenario = {
  name: "sqs-outage",
  description: "the consumers' SQS endpoint refuses connections, then blackholes them",
  stack: { sqsProxy: true },
  run: (ctx, stack) => {
    const outageMs = ctx.quick ? 10_000 : 60_000;
    return runWithFaults(ctx, stack, "sqs-outage", {
      events: ctx.quick ? 15_000 : 100_000,
      rate: 1000,
      seed: 303,
      consumers: 2,
      drainTimeoutMs: 120_000,
      async during(run) {
        const proxy = stack.sqsProxy!;
        await delay(2000, run.signal);
        const at = Date.now();
        await proxy.setMode("refuse");
        await delay(outageMs / 2, run.signal);
        await proxy.setMode("blackhole");
        await delay(outageMs / 2, run.signal);
        await proxy.setMode("pass");
        run.fault("SQS endpoint down", at, Date.now());
        run.note(
          `outage ${outageMs / 1000} s (${outageMs / 2000} s refused, ${
            outageMs / 2000
          } s blackholed${ctx.quick ? "; shortened from 60 s by --quick" : ""}); ` +
            `${proxy.stats.blackholed} connections blackholed; the producer sends directly`,
        );
      },
    });
  },
};
