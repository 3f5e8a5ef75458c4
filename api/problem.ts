/**
 * RFC 9457 problem details. Handlers and middleware throw {@linkcode ApiProblem} (an
 * `HTTPException`); the app's one `onError` renders every error through {@linkcode problemResponse},
 * so no response ever carries a stack trace.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** The problem document every error response carries. */
export const ProblemSchema = z.object({
  type: z.string().openapi({ example: "about:blank" }),
  title: z.string().openapi({ example: "Not Found" }),
  status: z.int(),
  detail: z.string(),
  instance: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
}).openapi("Problem");
export type Problem = z.infer<typeof ProblemSchema>;

/** An error that becomes a problem response with `status`, `detail` and optional headers. */
export class ApiProblem extends HTTPException {
  override name = "ApiProblem";
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;
  constructor(
    status: ContentfulStatusCode,
    detail: string,
    options: { headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
  ) {
    super(status, { message: detail });
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

/** Renders a problem document with the right content type. */
export function problemResponse(
  c: Context,
  status: ContentfulStatusCode,
  detail: string,
  options: { headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
): Response {
  const body = {
    type: "about:blank",
    title: TITLES[status] ?? "Error",
    status,
    detail,
    instance: c.req.path,
    ...options.extensions,
  };
  return c.json(body, status, { ...options.headers, "content-type": PROBLEM_CONTENT_TYPE });
}

/** Response entries for the OpenAPI document: each status answered with a problem. */
export function problemResponses<S extends number>(
  ...statuses: S[]
): Record<
  S,
  { description: string; content: { [PROBLEM_CONTENT_TYPE]: { schema: typeof ProblemSchema } } }
> {
  const out = {} as Record<
    S,
    { description: string; content: { [PROBLEM_CONTENT_TYPE]: { schema: typeof ProblemSchema } } }
  >;
  for (const s of statuses) {
    out[s] = {
      description: TITLES[s] ?? "Error",
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
    };
  }
  return out;
}

/**
 * The OpenAPIHono `defaultHook`: a request whose parameters, query or body fail their zod schema
 * gets a 400 problem listing each failing field.
 */
export function validationHook(
  result: { success: true } | { success: false; error: z.ZodError },
  c: Context,
): Response | undefined {
  if (result.success) return undefined;
  const errors = result.error.issues.slice(0, 20).map((i) => ({
    path: i.path.length > 0 ? i.path.join(".") : "(input)",
    message: i.message,
  }));
  return problemResponse(
    c,
    400,
    errors.map((e) => `${e.path}: ${e.message}`).join("; "),
    { extensions: { errors } },
  );
}
