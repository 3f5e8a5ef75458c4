/** API middleware factories, each configured by an options object. */
export { apiKeyAuth, type ApiKeyAuthOptions, type AuthVariables } from "./api_key_auth.ts";
export { peerAddress, peerRateLimit, rateLimit, type RateLimitOptions } from "./rate_limit.ts";
export { corsAllowList, type CorsAllowListOptions, parseOrigins } from "./cors_allow_list.ts";
export { publishableCors, type PublishableCorsOptions } from "./publishable_cors.ts";
