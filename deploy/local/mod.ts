/**
 * The embedded local stack for development and tests: an in-process SQS emulator (fauxqs) and an
 * in-process PostgreSQL (PGlite). Kept out of `shared/` so that no production program's import
 * graph carries an emulator (test/production_imports_test.ts checks it).
 */
export {
  DEFAULT_LOCAL_SQS_PORT,
  type EmbeddedService,
  startEmbeddedPostgres,
  startEmbeddedSqs,
} from "./local_stack.ts";
