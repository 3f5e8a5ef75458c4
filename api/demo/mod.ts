/** The demo shop served by the API at `/demo`, tracked with the browser SDK. */
export { demoRoutes, registerDemo } from "./demo_routes.ts";
