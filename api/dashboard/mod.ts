/** The live dashboard served by the API: `GET /` and its static assets. */
export { dashboardRoutes, registerDashboard, UPLOT_VERSION } from "./dashboard_routes.ts";
