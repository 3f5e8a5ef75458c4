/** The delete batcher against a real fauxqs server: request sizes, billing, refused entries. */
import assert from "node:assert/strict";
import {
  type DeleteMessageBatchCommandInput,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from "@aws-sdk/client-sqs";
import { createTestSqs, type TestSqs } from "../test/harness.ts";
import { createDeleteBatcher, instrumentSqsClient, Registry } from "./mod.ts";

async function fill(q: TestSqs, n: number): Promise<Message[]> {
  for (let i = 0; i < n; i += 10) {
    await q.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: q.queueUrl,
        Entries: Array.from({ length: Math.min(10, n - i) }, (_, j) => ({
          Id: String(j),
          MessageBody: `[${i + j}]`,
        })),
      }),
    );
  }
  const out: Message[] = [];
  while (out.length < n) {
    const r = await q.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: q.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 300,
      }),
    );
    out.push(...(r.Messages ?? []));
  }
  return out;
}

async function depth(q: TestSqs): Promise<number> {
  const r = await q.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: q.queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return Number(r.Attributes?.ApproximateNumberOfMessages) +
    Number(r.Attributes?.ApproximateNumberOfMessagesNotVisible);
}

/** Records the number of entries of every DeleteMessageBatch the client sends. */
function recordDeletes(q: TestSqs): number[] {
  const sizes: number[] = [];
  q.sqs.middlewareStack.add((next, context) => (args) => {
    if (context.commandName === "DeleteMessageBatchCommand") {
      sizes.push((args.input as DeleteMessageBatchCommandInput).Entries?.length ?? 0);
    }
    return next(args);
  }, { step: "initialize" });
  return sizes;
}

Deno.test("createDeleteBatcher() sends ten at once without waiting and the partial rest on flush()", async () => {
  const q = await createTestSqs();
  try {
    const registry = new Registry();
    instrumentSqsClient(q.sqs, registry);
    const messages = await fill(q, 25);
    const sizes = recordDeletes(q);
    let deleted = 0;
    // A wait far longer than the test: only full batches may go out before flush().
    const batcher = createDeleteBatcher({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxWaitMs: 600_000,
      onDeleted: (n) => deleted += n,
    });
    const handles = messages.map((m) => m.ReceiptHandle!);
    const firstTwenty = batcher.delete(handles.slice(0, 20));
    assert.equal(batcher.pending, 0);
    void batcher.delete(handles.slice(20));
    assert.equal(batcher.pending, 5, "five wait for a full batch");
    await firstTwenty;
    assert.deepEqual(sizes, [10, 10]);
    assert.equal(deleted, 20);
    await batcher.flush();
    assert.deepEqual(sizes, [10, 10, 5]);
    assert.equal(deleted, 25);
    assert.equal(batcher.pending, 0);
    assert.equal(await depth(q), 0);
    const billed = (await registry.getSingleMetric("scalestream_sqs_billed_requests_total")!.get())
      .values.find((v) => v.labels.operation === "DeleteMessageBatch")?.value;
    assert.equal(billed, 3, "each DeleteMessageBatch is one billed request");
  } finally {
    await q.close();
  }
});

Deno.test("createDeleteBatcher() sends a partial batch once the oldest handle waited maxWaitMs", async () => {
  const q = await createTestSqs();
  try {
    const messages = await fill(q, 3);
    const sizes = recordDeletes(q);
    const batcher = createDeleteBatcher({ sqs: q.sqs, queueUrl: q.queueUrl, maxWaitMs: 20 });
    await batcher.delete(messages.map((m) => m.ReceiptHandle!)); // resolves only once sent
    assert.deepEqual(sizes, [3]);
    assert.equal(await depth(q), 0);
  } finally {
    await q.close();
  }
});

Deno.test("createDeleteBatcher() gives up at once on entries refused as the sender's fault, retries the others", async () => {
  const q = await createTestSqs();
  try {
    const messages = await fill(q, 4);
    // Injected on the client (fauxqs accepts any well-formed handle): entry "0" is refused as the
    // sender's fault every time, entry "1" fails as SQS's fault on the first attempt only.
    let attempt = 0;
    q.sqs.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName !== "DeleteMessageBatchCommand") return next(args);
      attempt++;
      const input = args.input as DeleteMessageBatchCommandInput;
      const refuse = (id: string) => id === "0" || (id === "1" && attempt === 1);
      const pass = (input.Entries ?? []).filter((e) => !refuse(e.Id!));
      const res = await next({ ...args, input: { ...input, Entries: pass } });
      const failed = (input.Entries ?? []).filter((e) => refuse(e.Id!)).map((e) => ({
        Id: e.Id!,
        SenderFault: e.Id === "0",
        Code: e.Id === "0" ? "ReceiptHandleIsInvalid" : "InternalError",
      }));
      const out = res.output as { Successful?: unknown[] };
      return { ...res, output: { ...out, Failed: failed } } as never;
    }, { step: "initialize" });
    let deleted = 0, gaveUp = 0;
    const batcher = createDeleteBatcher({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxWaitMs: 600_000,
      minRetryDelayMs: 1,
      onDeleted: (n) => deleted += n,
      onGiveUp: (n) => gaveUp += n,
    });
    void batcher.delete(messages.map((m) => m.ReceiptHandle!));
    await batcher.flush();
    assert.equal(attempt, 2, "one retry, of the entry SQS failed on its side");
    assert.equal(deleted, 3);
    assert.equal(gaveUp, 1);
    assert.equal(await depth(q), 1, "the refused message stays for redelivery");
  } finally {
    await q.close();
  }
});
