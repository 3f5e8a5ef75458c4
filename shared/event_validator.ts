/**
 * The hot path's validator, compiled from the one event schema: zod's JSON Schema of each
 * contract (`z.toJSONSchema`), plus the per-type required fields as `if`/`then` rules, compiled by
 * ajv into plain JavaScript. zod stays the reference: the property test in
 * `event_validator_test.ts` keeps the two equal on accept/reject, and every refusal's reason is
 * still worded by zod (refusals are rare, so only they pay for zod).
 *
 * What the translation relies on:
 * - zod's refinements carry extension keywords (`x-storable-text`, `x-cents`,
 *   `x-storable-properties`); ajv runs the very same predicates for them; `x-ip-address` replaces
 *   the IP patterns, which zod itself does not use for IPv6;
 * - lengths are counted in code points by both; patterns run without the `u` flag, as zod runs
 *   them (`unicodeRegExp: false`); `format` is not checked because zod's JSON Schema already
 *   carries each format's own pattern;
 * - values are what `JSON.parse` returns, so any value under `properties` is valid JSON and the
 *   recursive `z.json()` check is replaced by `true`.
 */
import { Ajv, type ValidateFunction } from "ajv";
import { z } from "zod";
import {
  arePropertiesStorable,
  CENTS_KEYWORD,
  CONTRACT_SCHEMAS,
  EVENT_CONTRACTS,
  type EventContract,
  hasCents,
  IP_KEYWORD,
  isIpAddress,
  isStorableText,
  PROPERTIES_KEYWORD,
  REQUIRED_BY_TYPE,
  STORABLE_KEYWORD,
  STRICT_REQUIRED_BY_TYPE,
} from "./event.ts";

type Json = Record<string, unknown>;

const RULES: Readonly<Record<EventContract, Readonly<Record<string, readonly string[]>>>> = {
  lenient: REQUIRED_BY_TYPE,
  strict: STRICT_REQUIRED_BY_TYPE,
};

/** The JSON Schema a contract compiles to (zod's output plus the per-type rules). */
export function contractJsonSchema(contract: EventContract): Json {
  const schema = z.toJSONSchema(CONTRACT_SCHEMAS[contract], {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  }) as Json;
  delete schema.$schema;
  // JSON.parse only ever yields JSON: the recursive z.json() check cannot fail on it.
  const defs = schema.$defs as Record<string, Json> | undefined;
  if (defs !== undefined) {
    for (const name of Object.keys(defs)) {
      const def = JSON.stringify(defs[name]);
      if (def.includes(`"#/$defs/${name}"`) && def.includes('"type":"null"')) defs[name] = {};
    }
  }
  replaceIpPatterns(schema);
  const rules = Object.entries(RULES[contract]).filter(([, fields]) => fields.length > 0);
  if (rules.length > 0) {
    schema.allOf = rules.map(([type, fields]) => ({
      if: { properties: { eventType: { const: type } }, required: ["eventType"] },
      then: { required: fields },
    }));
  }
  return schema;
}

function replaceIpPatterns(node: unknown): void {
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node)) return node.forEach(replaceIpPatterns);
  const o = node as Json;
  if (o[IP_KEYWORD] === true) {
    delete o.anyOf;
    o.type = "string";
  }
  for (const v of Object.values(o)) replaceIpPatterns(v);
}

function compile(contract: EventContract): ValidateFunction {
  const ajv = new Ajv({
    allErrors: false,
    unicodeRegExp: false,
    validateFormats: false,
    strict: false,
    code: { optimize: true },
  });
  ajv.addKeyword({
    keyword: STORABLE_KEYWORD,
    type: "string",
    schemaType: "boolean",
    validate: (_: boolean, s: string) => isStorableText(s),
    errors: false,
  });
  ajv.addKeyword({
    keyword: CENTS_KEYWORD,
    type: "number",
    schemaType: "boolean",
    validate: (_: boolean, p: number) => hasCents(p),
    errors: false,
  });
  ajv.addKeyword({
    keyword: IP_KEYWORD,
    type: "string",
    schemaType: "boolean",
    validate: (_: boolean, s: string) => isIpAddress(s),
    errors: false,
  });
  ajv.addKeyword({
    keyword: PROPERTIES_KEYWORD,
    type: "object",
    schemaType: "boolean",
    validate: (_: boolean, p: Record<string, unknown>) => arePropertiesStorable(p),
    errors: false,
  });
  return ajv.compile(contractJsonSchema(contract));
}

const compiled = new Map<EventContract, ValidateFunction>();

/**
 * The compiled check of one contract: true when the contract's zod schema would accept `value`
 * (a value `JSON.parse` returned, aliases already mapped). Compiled once, on first use.
 */
export function compiledValidator(contract: EventContract): (value: unknown) => boolean {
  let fn = compiled.get(contract);
  if (fn === undefined) {
    if (!EVENT_CONTRACTS.includes(contract)) throw new RangeError(`Unknown contract "${contract}"`);
    compiled.set(contract, fn = compile(contract));
  }
  return fn as (value: unknown) => boolean;
}
