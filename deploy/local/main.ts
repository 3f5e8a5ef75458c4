/**
 * `deno task sqs [--port N]`: a local SQS (fauxqs, which serves S3 on the same port) in the
 * foreground, for `produce`, `consume`, `api` and `dlq` run as separate programs. Stops on Ctrl-C
 * or SIGTERM.
 */
import { parseFlags, runMain, UsageError } from "../../shared/mod.ts";
import { DEFAULT_LOCAL_SQS_PORT, startEmbeddedSqs } from "./mod.ts";

const USAGE = `Usage: deno task sqs [--port N]

  Starts a local SQS emulator (fauxqs) on 127.0.0.1, port ${DEFAULT_LOCAL_SQS_PORT} unless --port
  says otherwise (0: any free port). Then, in another terminal:
    SQS_ENDPOINT=http://127.0.0.1:${DEFAULT_LOCAL_SQS_PORT} deno task consume`;

async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, USAGE, {
    port: { type: "string", default: String(DEFAULT_LOCAL_SQS_PORT) },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be a port number, got "${values.port}"`, USAGE);
  }
  const server = await startEmbeddedSqs(port);
  console.error(`Local SQS (fauxqs) on ${server.url}; use SQS_ENDPOINT=${server.url}`);
  const { promise, resolve } = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
  await promise;
  await server.stop();
  return 0;
}

if (import.meta.main) await runMain(main);
