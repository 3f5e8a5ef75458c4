/**
 * Dependencies flow one way: `shared/` ← `producer/`, `consumer/`, `api/` ← programs.
 * A library folder imports another folder only through `shared/mod.ts`; `shared/` imports no other
 * folder; no library imports `deploy/` (the embedded emulators live in `deploy/local/`), `test/` or
 * `bench/`. Two sub-folders are libraries of their own, with their own `mod.ts`: the server client
 * (`producer/client/`) and the data lake (`consumer/lake/`). Each imports only its own files and
 * `shared/mod.ts`; the rest of its parent folder may use it only through its `mod.ts`. Tests beside
 * a file may use the test helpers in `test/`.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);
const TOP_LEVEL = ["shared", "consumer", "producer", "api"];
/** Sub-folders that are libraries of their own inside a top-level folder. */
const NESTED = ["producer/client", "consumer/lake"];

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(`${dir}/`, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== "dashboard") yield* sourceFiles(path);
    else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield path;
  }
}

/** The library `path` (relative to the root) belongs to: a nested one first, then its top level. */
function libraryOf(path: string): string {
  return NESTED.find((lib) => path.startsWith(`${lib}/`)) ?? path.split("/")[0]!;
}

/** Whether a file of library `from` may import `target`, a file of another library or folder. */
function mayImport(from: string, target: string): boolean {
  if (from !== "shared" && target === "shared/mod.ts") return true;
  // A parent folder may use its nested library, through that library's mod.ts.
  return NESTED.some((lib) => from === lib.split("/")[0] && target === `${lib}/mod.ts`);
}

Deno.test("the nested libraries exist, so the rules below check them", async () => {
  for (const lib of NESTED) {
    assert.ok((await Deno.stat(new URL(`${lib}/mod.ts`, ROOT))).isFile, `${lib}/mod.ts`);
  }
});

Deno.test("the rules refuse a nested library's import of its parent and a deep import into it", () => {
  assert.equal(mayImport(libraryOf("producer/client/x.ts"), "producer/mod.ts"), false);
  assert.equal(mayImport(libraryOf("consumer/lake/x.ts"), "consumer/mod.ts"), false);
  assert.equal(mayImport(libraryOf("consumer/x.ts"), "consumer/lake/batch_view.ts"), false);
  assert.equal(mayImport(libraryOf("api/x.ts"), "consumer/lake/mod.ts"), false);
  assert.equal(mayImport(libraryOf("consumer/x.ts"), "consumer/lake/mod.ts"), true);
  assert.equal(mayImport(libraryOf("consumer/lake/x.ts"), "shared/mod.ts"), true);
});

Deno.test("library folders import each other only through shared/mod.ts", async () => {
  const crossings: string[] = [];
  for (const folder of TOP_LEVEL) {
    for await (const file of sourceFiles(folder)) {
      const from = libraryOf(file);
      const text = await Deno.readTextFile(new URL(file, ROOT));
      const specifiers = [
        ...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g),
      ].map((m) => m[1]!);
      for (const spec of specifiers) {
        const target = new URL(spec, new URL(file, ROOT)).pathname.slice(ROOT.pathname.length);
        if (libraryOf(target) === from) continue;
        if (!mayImport(from, target)) crossings.push(`${file} -> ${target}`);
      }
    }
  }
  assert.deepEqual(crossings, []);
});
