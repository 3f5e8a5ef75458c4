/** A consumer on a test schema and queue, for tests of the whole pipeline (in this process). */
import { analyticsStages, type ConsumerDeps, createConsumer } from "../consumer/mod.ts";
import { createTestDb, createTestSqs, testConfig, type TestDb, type TestSqs } from "./harness.ts";

/** A consumer (not started) on a test schema and queue, with `testConfig()` unless given. */
export function createTestConsumer(
  db: Pick<TestDb, "sql">,
  q: Pick<TestSqs, "sqs" | "queueUrl">,
  workerId: string,
  options: Partial<Pick<ConsumerDeps, "config" | "stages">> = {},
) {
  return createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: options.config ?? testConfig(),
    workerId,
    ...(options.stages ? { stages: options.stages } : {}),
  });
}

/** A fresh schema and queue with a started consumer on them (`analytics`: with its stages). */
export async function startTestPipeline(workerId: string, options: { analytics?: boolean } = {}) {
  const db = await createTestDb();
  const q = await createTestSqs();
  const config = testConfig();
  const consumer = createTestConsumer(db, q, workerId, {
    config,
    ...(options.analytics ? { stages: analyticsStages(config) } : {}),
  });
  consumer.start();
  return { db, q, config, consumer };
}
