/** 1 % poison messages: bodies that cannot be parsed, sent directly among the producer's. */
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { runWithFaults, type Scenario } from "./scenario.ts";
import { delay } from "../../shared/mod.ts";

const POISON: { body: string; gzip?: boolean }[] = [
  { body: "not json at all {" },
  { body: "[1," },
  { body: '"just a string"' },
  { body: "42" },
  { body: "null" },
  { body: '{"eventId": }' },
  { body: "H4sIAAAA-this-is-not-base64-gzip!!", gzip: true },
  { body: "\u00ff\u00fe garbage \ufffd\t" }, // SQS refuses most control characters
];

export const poisonMessages: Scenario = {
  name: "poison-1pct",
  description: "1 % of messages are unparseable; they must end in the DLQ and count nowhere",
  stack: { maxReceiveCount: 2 },
  async run(ctx, stack) {
    let sent = 0;
    let target = 0;
    const send = async (n: number) => {
      for (let i = 0; i < n; i += 10) {
        const entries = Array.from({ length: Math.min(10, n - i) }, (_, j) => {
          const p = POISON[(sent + j) % POISON.length]!;
          return {
            Id: String(j),
            MessageBody: p.body,
            ...(p.gzip
              ? {
                MessageAttributes: {
                  "ss-encoding": { DataType: "String", StringValue: "gzip+base64" },
                },
              }
              : {}),
          };
        });
        const out = await stack.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: stack.queueUrl, Entries: entries }),
        );
        if (out.Failed?.length) throw new Error(`poison refused: ${JSON.stringify(out.Failed)}`);
        sent += entries.length;
      }
    };
    const events = ctx.quick ? 15_000 : 100_000;
    const rate = ctx.quick ? 2000 : 3000;
    const r = await runWithFaults(ctx, stack, "poison-1pct", {
      events,
      rate,
      seed: 707,
      consumers: 2,
      drainTimeoutMs: 90_000,
      async during(run) {
        // ~40 events per 16 KiB message: about one poison message per 99 good ones, spread out.
        const expectedMessages = events / 40;
        const paceMs = (events / rate) * 1000 / Math.max(1, expectedMessages / 99);
        while (run.producer.exited === false && !run.signal.aborted) {
          await delay(paceMs, run.signal);
          if (!run.producer.exited) await send(1);
        }
        // Top up to 1 % of what the producer actually sent.
        const summary = JSON.parse((await run.producer.stdout()).trim().split("\n").at(-1)!);
        target = Math.ceil(summary.messages / 99);
        if (sent < target) await send(target - sent);
        run.fault("poison message", Date.now());
        run.note(
          `${sent} poison of ${summary.messages + sent} messages ` +
            `(${(100 * sent / (summary.messages + sent)).toFixed(2)} %)`,
        );
      },
      // Poison messages reach the DLQ after maxReceiveCount receives (with backoff).
      drained: async () => (await stack.depth(stack.dlqUrl)) === sent,
    });
    const inDlq = await stack.depth(stack.dlqUrl);
    r.faults = sent;
    r.events += sent;
    r.notes.push(`${inDlq} messages in the DLQ (expected ${sent})`);
    if (inDlq !== sent) r.passed = false;
    return r;
  },
};
