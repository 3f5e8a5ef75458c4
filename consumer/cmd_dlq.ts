/** `deno task dlq inspect|redrive`: look into the dead-letter queue, or move it back. */
import { createSqsClient, ensureQueues, parseFlags, UsageError } from "../shared/mod.ts";
import { inspectDlq, redriveDlq } from "./dlq_tools.ts";
import { setupProgram } from "./_program.ts";

const HELP = `Usage: deno task dlq inspect [--sample N] [--body-chars N]
       deno task dlq redrive [--rate N] [--max N]

  inspect        count, oldest message, a sample of bodies (truncated) with receive counts
  redrive        move messages back to the source queue, oldest first as far as SQS allows,
                 at most --rate messages/s (default DLQ_REDRIVE_RATE), at most --max messages
                 (default: what the DLQ holds when it starts); stops when the DLQ is empty

Environment: SQS_ENDPOINT, SQS_QUEUE_NAME, SQS_DLQ_NAME (see docs/configuration.md).`;

/** Runs the `dlq` subcommand; resolves to the exit code. */
export async function dlqCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, HELP, {
    sample: { type: "string", default: "10" },
    "body-chars": { type: "string", default: "300" },
    rate: { type: "string" },
    max: { type: "string" },
    help: { type: "boolean", default: false },
  }, true);
  const action = positionals[0];
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (action !== "inspect" && action !== "redrive") {
    throw new UsageError(
      action === undefined ? "Missing action" : `Unknown action "${action}"`,
      HELP,
    );
  }
  if (positionals.length > 1) throw new UsageError(`Unexpected argument "${positionals[1]}"`, HELP);
  const { config } = await setupProgram("dlq");
  const sqs = createSqsClient(config, Deno.env.toObject());
  try {
    const { queueUrl, dlqUrl } = await ensureQueues(sqs, config);
    if (action === "inspect") {
      const report = await inspectDlq({
        sqs,
        dlqUrl,
        sample: Number(values.sample),
        bodyChars: Number(values["body-chars"]),
      });
      console.log(JSON.stringify({ dlqUrl, ...report }, null, 2));
      return 0;
    }
    const abort = new AbortController();
    const stop = () => abort.abort();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    const result = await redriveDlq({
      sqs,
      dlqUrl,
      queueUrl,
      ratePerS: values.rate ? Number(values.rate) : config.dlqRedriveRate,
      ...(values.max ? { maxMessages: Number(values.max) } : {}),
      signal: abort.signal,
    });
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    console.log(JSON.stringify(result));
    return result.failed > 0 ? 1 : 0;
  } finally {
    sqs.destroy();
  }
}
