/**
 * fauxqs in a process of its own, so the load test can measure its CPU and memory apart:
 * `deno run -A bench/loadtest/fauxqs_server.ts PORT`. Stops on SIGTERM/SIGINT.
 */
import { startEmbeddedSqs } from "../../local/mod.ts";

const port = Number(Deno.args[0] ?? 0);
const server = await startEmbeddedSqs(port);
console.error(`fauxqs listening on ${server.url}`);
const stop = async () => {
  await server.stop();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", () => void stop());
Deno.addSignalListener("SIGINT", () => void stop());
