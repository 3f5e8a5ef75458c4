/** The browser SDK served by the API at `/sdk/v1.js`. */
export { registerSdk, sdkRoutes } from "./sdk_routes.ts";
