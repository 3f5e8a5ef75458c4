/**
 * `apiKeyAuth({ store, scope })`: requires an `x-api-key` whose key grants `scope` (401 without a
 * valid key, 403 with one that lacks the scope). When no key is configured anywhere the API runs
 * open, so `deno task dev` works with zero configuration; that is logged loudly, once.
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
  let warned = false;
  return async (c, next) => {
    let open: boolean;
    let record: ApiKeyRecord | null = null;
    const key = c.req.header(header);
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
    if (!hasScope(record.scopes, needed)) {
      throw new ApiProblem(403, `The API key "${record.name}" lacks the "${needed}" scope`);
    }
    c.set("apiKey", record);
    await next();
  };
}
