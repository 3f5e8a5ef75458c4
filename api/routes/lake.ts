/**
 * `/v1/lake/*`: the data lake's state and the reports computed from it. The lake's jobs (export,
 * batch view, cohorts, experiments) write PostgreSQL tables; these routes only read them, so the
 * API never loads DuckDB or touches S3. A batch-view difference shows in `/v1/lake/status`
 * (`batchView.differences`) and in the `scalestream_lake_batch_view_differences` gauge.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import {
  BatchCheckSchema,
  CohortReportSchema,
  ExperimentReportSchema,
  Gauge,
  type Registry,
  type Sql,
  type Tx,
} from "../../shared/mod.ts";
import { ApiProblem, problemResponses } from "../problem.ts";

/** Days of batch-view checks shown in the status and summed by the gauge. */
export const BATCH_CHECK_DAYS = 7;

const LakeStatusSchema = z.object({
  watermark: z.number().openapi({
    description: "Every stored event with a lower batch_id is in the lake, none above it",
  }),
  exportedEvents: z.number(),
  exportedBytes: z.number(),
  lastExport: z.object({
    fromBatch: z.number(),
    toBatch: z.number(),
    committedAt: z.string(),
    rows: z.number(),
    objects: z.number(),
    bytes: z.number(),
  }).nullable(),
  pendingExport: z.object({ fromBatch: z.number(), toBatch: z.number(), startedAt: z.string() })
    .nullable().openapi({ description: "A range being uploaded, or left by a run that stopped" }),
  batchView: z.object({
    differences: z.int().openapi({
      description:
        `Aggregates that differ between the stream and the lake, over the last ${BATCH_CHECK_DAYS} days checked`,
    }),
    checks: z.array(BatchCheckSchema),
  }),
  reports: z.array(z.object({ kind: z.string(), name: z.string(), computedAt: z.string() })),
}).openapi("LakeStatus");
export type LakeStatus = z.infer<typeof LakeStatusSchema>;

const ok = <T extends z.ZodType>(schema: T, description: string) => ({
  200: { description, content: { "application/json": { schema } } },
});

interface ExportRow {
  from_batch: number;
  to_batch: number;
  committed_at: Date;
  rows: number;
  objects: number;
  bytes: number;
}

/**
 * Reads the lake's state in one read-only snapshot on one connection; `null` fields when nothing
 * was exported or checked yet.
 */
export async function lakeStatus(deps: { sql: Sql }): Promise<LakeStatus> {
  return await deps.sql.begin("isolation level repeatable read read only", (tx) => readStatus(tx));
}

async function readStatus(sql: Tx): Promise<LakeStatus> {
  const [state] = await sql<{ watermark: number }[]>`select watermark from lake_state`;
  const [totals] = await sql<{ rows: number; bytes: number }[]>`
      select coalesce(sum(rows), 0)::bigint as rows, coalesce(sum(bytes), 0)::bigint as bytes
      from lake_exports where state = 'committed'`;
  const [last] = await sql<ExportRow[]>`
      select from_batch, to_batch, committed_at, rows, jsonb_array_length(objects) as objects, bytes
      from lake_exports where state = 'committed' order by from_batch desc limit 1`;
  const [pending] = await sql<{ from_batch: number; to_batch: number; started_at: Date }[]>`
      select from_batch, to_batch, started_at from lake_exports where state = 'pending'`;
  const checks = await sql<
    {
      day: Date;
      checked_at: Date;
      watermark: number;
      keys: number;
      differences: number;
      lake_events: number;
      details: unknown;
    }[]
  >`
      select day, checked_at, watermark, keys, differences, lake_events, details
      from lake_batch_checks order by day desc limit ${BATCH_CHECK_DAYS}`;
  const reports = await sql<{ kind: string; name: string; computed_at: Date }[]>`
      select kind, name, computed_at from lake_reports order by kind, name`;
  const parsedChecks = checks.map((c) =>
    BatchCheckSchema.parse({
      day: c.day.toISOString().slice(0, 10),
      checkedAt: c.checked_at.toISOString(),
      watermark: c.watermark,
      keys: c.keys,
      differences: c.differences,
      lakeEvents: c.lake_events,
      details: c.details,
    })
  );
  return {
    watermark: state?.watermark ?? 0,
    exportedEvents: totals?.rows ?? 0,
    exportedBytes: totals?.bytes ?? 0,
    lastExport: last
      ? {
        fromBatch: last.from_batch,
        toBatch: last.to_batch,
        committedAt: last.committed_at.toISOString(),
        rows: last.rows,
        objects: last.objects,
        bytes: last.bytes,
      }
      : null,
    pendingExport: pending
      ? {
        fromBatch: pending.from_batch,
        toBatch: pending.to_batch,
        startedAt: pending.started_at.toISOString(),
      }
      : null,
    batchView: {
      differences: parsedChecks.reduce((s, c) => s + c.differences, 0),
      checks: parsedChecks,
    },
    reports: reports.map((r) => ({
      kind: r.kind,
      name: r.name,
      computedAt: r.computed_at.toISOString(),
    })),
  };
}

async function report(sql: Sql, kind: string, name: string): Promise<unknown | undefined> {
  const [row] = await sql<{ body: unknown }[]>`
    select body from lake_reports where kind = ${kind} and name = ${name}`;
  return row?.body;
}

/** Registers `/v1/lake/status`, `/v1/lake/cohorts` and `/v1/lake/experiments[/{name}]`. */
export function registerLakeRoutes<E extends Env>(app: OpenAPIHono<E>, deps: { sql: Sql }): void {
  const { sql } = deps;
  const security = [{ ApiKey: [] }];

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/lake/status",
      tags: ["lake"],
      summary: "Export watermark, last export and the batch view's checks",
      security,
      responses: { ...ok(LakeStatusSchema, "The lake's state"), ...problemResponses(401, 403) },
    }),
    async (c) => c.json(await lakeStatus(deps), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/lake/cohorts",
      tags: ["lake"],
      summary: "Weekly retention cohorts (first-seen week × weeks since), from the lake",
      security,
      responses: {
        ...ok(CohortReportSchema, "The latest cohort report"),
        ...problemResponses(401, 403, 404),
      },
    }),
    async (c) => {
      const body = await report(sql, "cohorts", "weekly");
      if (body === undefined) {
        throw new ApiProblem(404, "No cohort report yet: the lake jobs have not run");
      }
      return c.json(CohortReportSchema.parse(body), 200);
    },
  );

  const Experiment = ExperimentReportSchema;
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/lake/experiments",
      tags: ["lake"],
      summary: "Every A/B experiment: conversion per variant, lift, z-test, sample-ratio check",
      security,
      responses: {
        ...ok(z.object({ experiments: z.array(Experiment) }), "Latest experiment reports"),
        ...problemResponses(401, 403),
      },
    }),
    async (c) => {
      const rows = await sql<{ body: unknown }[]>`
        select body from lake_reports where kind = 'experiment' order by name`;
      return c.json({ experiments: rows.map((r) => ExperimentReportSchema.parse(r.body)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/lake/experiments/{name}",
      tags: ["lake"],
      summary: "One A/B experiment's report",
      security,
      request: { params: z.object({ name: z.string().min(1).max(128) }) },
      responses: {
        ...ok(Experiment, "The experiment's latest report"),
        ...problemResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const body = await report(sql, "experiment", name);
      if (body === undefined) throw new ApiProblem(404, `No experiment named "${name}"`);
      return c.json(ExperimentReportSchema.parse(body), 200);
    },
  );
}

/**
 * Gauges read from PostgreSQL at scrape time, so whichever process runs the lake jobs, the API
 * reports their outcome: batch-view differences over the recent days checked, the time of the
 * last check and of the last committed export.
 */
export function registerLakeMetrics(registry: Registry, deps: { sql: Sql }): void {
  const { sql } = deps;
  // One query per scrape: prom-client collects the three gauges at once, and they share it.
  let inflight:
    | Promise<{ differences: number; checked: number | null; exported: number | null }>
    | null = null;
  const read = () => inflight ??= query().finally(() => inflight = null);
  const query = async () => {
    const [row] = await sql<
      { differences: number; checked: number | null; exported: number | null }[]
    >`
      select
        (select coalesce(sum(differences), 0)::bigint from (
          select differences from lake_batch_checks order by day desc limit ${BATCH_CHECK_DAYS}
        ) d) as differences,
        (select extract(epoch from max(checked_at))::float8 from lake_batch_checks) as checked,
        (select extract(epoch from max(committed_at))::float8 from lake_exports
          where state = 'committed') as exported`;
    return row!;
  };
  new Gauge({
    name: "scalestream_lake_batch_view_differences",
    help:
      `Aggregates that differ between the stream's rollups and the lake, over the last ${BATCH_CHECK_DAYS} days checked`,
    registers: [registry],
    async collect() {
      this.set((await read()).differences);
    },
  });
  new Gauge({
    name: "scalestream_lake_batch_view_checked_timestamp_seconds",
    help: "When the batch view last checked a day (0 = never)",
    registers: [registry],
    async collect() {
      this.set((await read()).checked ?? 0);
    },
  });
  new Gauge({
    name: "scalestream_lake_export_committed_timestamp_seconds",
    help: "When the last lake export batch committed (0 = never)",
    registers: [registry],
    async collect() {
      this.set((await read()).exported ?? 0);
    },
  });
}
