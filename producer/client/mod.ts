/**
 * The ScaleStream server client for Deno and Node services: send events straight to the pipeline's
 * queue, packed the way the producer packs them.
 *
 * ```ts
 * import { createServerClient } from "./producer/client/mod.ts";
 * const events = createServerClient({ queueUrl: Deno.env.get("QUEUE_URL")!, region: "eu-west-1" });
 * await events.send({ eventId: crypto.randomUUID(), eventType: "purchase", ... });
 * await events.close(); // flushes
 * ```
 */
export {
  createServerClient,
  type EventInput,
  InvalidEventError,
  SendFailedError,
  type ServerClient,
  type ServerClientOptions,
} from "./server_client.ts";
