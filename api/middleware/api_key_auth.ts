/**
 * `apiKeyAuth({ store, scope })`: requires an `x-api-key` whose key grants `scope` (401 without a
 * valid key, 403 with one that lacks the scope). When no key is configured anywhere the API runs
 * open, so `deno task dev` works with zero configuration; that is logged loudly, once.
 *
 * A publishable key (one with origins) may also come in the `key` query parameter, because
 * `navigator.sendBeacon` cannot set headers and a CORS preflight carries none. It passes only for
 * the `ingest` scope and only with an `Origin` on its list; everything else is 403. A secret key in
 * a URL is refused (401): URLs end up in logs.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getLogger } from "../../shared/mod.ts";
import { type ApiKeyRecord, hasScope, type KeyStore, type Scope } from "../api_keys.ts";
import { ApiProblem } from "../problem.ts";

const log = getLogger(["scalestream", "api", "auth"]);

export interface ApiKeyAuthOptions {
  store: KeyStore;
  /** The scope a request needs, fixed or decided per request (by method, say). */
  scope: Scope | ((c: Context) => Scope);
  /** Header carrying the key. */
  header?: string;
  /** Query parameter that may carry a publishable key. */
  queryParam?: string;
}

/** Variables the middleware sets on the context. */
export interface AuthVariables {
  apiKey?: ApiKeyRecord;
}

/** Authenticates by API key; see the module comment. */
export function apiKeyAuth(
  options: ApiKeyAuthOptions,
): MiddlewareHandler<{ Variables: AuthVariables }> {
  const header = options.header ?? "x-api-key";
  const queryParam = options.queryParam ?? "key";
  let warned = false;
  return async (c, next) => {
    let open: boolean;
    let record: ApiKeyRecord | null = null;
    const headerKey = c.req.header(header);
    const key = headerKey ?? c.req.query(queryParam);
    try {
      open = await options.store.open();
      if (!open && key) record = await options.store.lookup(key);
    } catch (err) {
      log.error("Key store unavailable: {error}", { error: String(err) });
      throw new ApiProblem(503, "Authentication is temporarily unavailable", {
        headers: { "retry-after": "5" },
      });
    }
    if (open) {
      if (!warned) {
        warned = true;
        log.warn(
          "NO API KEYS ARE CONFIGURED: the API is open to anyone who can reach it. Set API_KEYS or run `deno task apikey create`.",
        );
      }
      return await next();
    }
    const challenge = { "www-authenticate": `ApiKey header="${header}"` };
    if (!key) {
      throw new ApiProblem(401, `An API key is required in the "${header}" header`, {
        headers: challenge,
      });
    }
    if (!record) throw new ApiProblem(401, "The API key is not valid", { headers: challenge });
    const needed = typeof options.scope === "function" ? options.scope(c) : options.scope;
    if (record.origins) {
      checkPublishable(record, needed, c.req.header("origin"));
    } else if (headerKey === undefined) {
      throw new ApiProblem(
        401,
        `Only publishable keys may travel in the URL; send this key in the "${header}" header`,
        { headers: challenge },
      );
    }
    if (!hasScope(record.scopes, needed)) {
      throw new ApiProblem(403, `The API key "${record.name}" lacks the "${needed}" scope`);
    }
    c.set("apiKey", record);
    await next();
  };
}

/** What a publishable key may do: send events, from an origin on its list. */
function checkPublishable(record: ApiKeyRecord, needed: Scope, origin: string | undefined) {
  if (needed !== "ingest") {
    throw new ApiProblem(
      403,
      `The publishable key "${record.name}" may only send events (POST /v1/events)`,
    );
  }
  if (origin === undefined || !record.origins!.includes(origin)) {
    throw new ApiProblem(
      403,
      `The publishable key "${record.name}" is not allowed from origin "${
        (origin ?? "(none)").slice(0, 200)
      }"`,
    );
  }
}
