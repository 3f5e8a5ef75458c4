/**
 * The OpenAPI document's event contract comes from the shared zod schema through zod's own JSON
 * Schema output (zod-to-openapi cannot walk the recursive `z.json()` of `properties`). Its `$defs`
 * become components of their own so every `$ref` resolves inside the document.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { EventSchema, REQUIRED_BY_TYPE } from "../shared/mod.ts";

type Json = Record<string, unknown>;

/** Registers `Event` (and its helper schemas) as components of `registry`. */
// deno-lint-ignore no-explicit-any
export function registerEventSchema(registry: OpenAPIHono<any>["openAPIRegistry"]): void {
  const schema = z.toJSONSchema(EventSchema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  }) as Json;
  const defs = (schema.$defs ?? {}) as Record<string, Json>;
  delete schema.$defs;
  delete schema.$schema;
  const rename = (name: string) => `Event_${name.replace(/^_+/, "")}`;
  let text = JSON.stringify(schema);
  let defsText = JSON.stringify(defs);
  for (const name of Object.keys(defs)) {
    const from = `"#/$defs/${name}"`;
    const to = `"#/components/schemas/${rename(name)}"`;
    text = text.replaceAll(from, to);
    defsText = defsText.replaceAll(from, to);
  }
  const rules = Object.entries(REQUIRED_BY_TYPE)
    .map(([type, fields]) => `${type}: ${fields.join(", ")}`).join("; ");
  const event = JSON.parse(text) as Json;
  event.description = "One clickstream event (shared/event.ts). Beyond the required fields, each " +
    `eventType requires: ${rules}. Prices carry at most two decimals.`;
  registry.registerComponent("schemas", "Event", event);
  for (const [name, def] of Object.entries(JSON.parse(defsText) as Record<string, Json>)) {
    registry.registerComponent("schemas", rename(name), def);
  }
}
