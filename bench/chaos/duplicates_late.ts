/** Duplicates and late events from the producer's own injections (and the window's edges). */
import { runWithFaults, type Scenario } from "./scenario.ts";

export const duplicatesLate: Scenario = {
  name: "duplicates-late",
  description: "the producer re-sends events and stamps some late, future, too old, too new",
  stack: {},
  async run(ctx, stack) {
    const r = await runWithFaults(ctx, stack, "duplicates-late", {
      events: ctx.quick ? 12_000 : 80_000,
      rate: ctx.quick ? 3000 : 4000,
      seed: 606,
      consumers: 2,
      drainTimeoutMs: 60_000,
      producerArgs: [
        "--duplicates",
        "5%",
        "--late",
        "5%",
        "--future",
        "2%",
        "--too-old",
        "1%",
        "--too-new",
        "1%",
        "--invalid",
        "1%",
      ],
    });
    // The faults are the injected events themselves.
    const ledger = JSON.parse(
      await Deno.readTextFile(`${ctx.logDir}/duplicates-late-ledger.json`),
    ) as { injected?: Record<string, number> };
    const inj = ledger.injected ?? {};
    const kinds = ["duplicates", "late", "future", "tooOld", "tooNew", "invalid"];
    r.faults = kinds.reduce((s, k) => s + (inj[k] ?? 0), 0);
    r.faultKinds = kinds.filter((k) => (inj[k] ?? 0) > 0);
    r.notes.push(kinds.map((k) => `${k} ${inj[k] ?? 0}`).join(", "));
    return r;
  },
};
