/**
 * What the lake's batch jobs compute and the API serves: the batch view's check of a day, weekly
 * retention cohorts and A/B experiment results. The jobs store these bodies in PostgreSQL
 * (`lake_batch_checks`, `lake_reports`); one schema types both the writer and the API document.
 */
import { z } from "zod";

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const interval = z.tuple([z.number(), z.number()]);

/** One aggregate that differs between the stream's rollups and the lake. */
export const BatchDifferenceSchema = z.object({
  hour: z.int().min(0).max(23),
  eventType: z.string(),
  field: z.enum(["events", "units", "revenueCents"]),
  stream: z.number(),
  lake: z.number(),
});

/** The batch view's check of one day: per hour and event type, stream rollups vs lake. */
export const BatchCheckSchema = z.object({
  day,
  checkedAt: z.string(),
  /** The export watermark the check saw; rows above it were counted from PostgreSQL. */
  watermark: z.number(),
  /** (hour, event type) keys compared. */
  keys: z.int(),
  differences: z.int(),
  lakeEvents: z.number(),
  details: z.array(BatchDifferenceSchema),
});
export type BatchCheck = z.infer<typeof BatchCheckSchema>;

/** Weekly retention: users first seen in a week, and how many came back N weeks later. */
export const CohortReportSchema = z.object({
  computedAt: z.string(),
  watermark: z.number(),
  cohorts: z.array(z.object({
    /** Monday of the first-seen week (UTC). */
    week: day,
    users: z.int(),
    /** Active users by weeks since the first week; `retained[0]` equals `users`. */
    retained: z.array(z.int()),
    rates: z.array(z.number()),
  })),
});
export type CohortReport = z.infer<typeof CohortReportSchema>;

/** Per-variant conversion of one experiment, its comparisons with the baseline and its SRM check. */
export const ExperimentReportSchema = z.object({
  experiment: z.string(),
  computedAt: z.string(),
  watermark: z.number(),
  confidence: z.number(),
  /** A user converts with at least one event of this type while in the experiment. */
  conversionEvent: z.string(),
  baseline: z.string(),
  variants: z.array(z.object({
    variant: z.string(),
    users: z.int(),
    conversions: z.int(),
    rate: z.number(),
    interval,
  })),
  comparisons: z.array(z.object({
    variant: z.string(),
    difference: z.number(),
    differenceInterval: interval,
    relativeLift: z.number().nullable(),
    relativeLiftInterval: interval.nullable(),
    z: z.number(),
    pValue: z.number(),
    significant: z.boolean(),
  })),
  sampleRatio: z.object({
    expectedShares: z.array(z.number()),
    chiSquare: z.number(),
    degreesOfFreedom: z.int(),
    pValue: z.number(),
    /** p below 0.001: the split is not what was intended; do not trust the comparisons. */
    mismatch: z.boolean(),
  }),
  /** Users seen in more than one variant, left out of every count. */
  excludedUsers: z.int(),
});
export type ExperimentReport = z.infer<typeof ExperimentReportSchema>;
