/**
 * Dependencies flow one way: `shared/` ← `producer/`, `consumer/`, `api/`, `lake/`, `client/` ←
 * programs.
 * A library folder imports another folder only through `shared/mod.ts`; `shared/` imports no other
 * folder; no library imports `local/` (emulators), `test/` or `bench/`. Tests beside a file may use
 * the test helpers in `test/`.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);
const LIBRARIES = ["shared", "consumer", "producer", "api", "lake", "client"];

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(`${dir}/`, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== "dashboard") yield* sourceFiles(path);
    else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield path;
  }
}

Deno.test("library folders import each other only through shared/mod.ts", async () => {
  const crossings: string[] = [];
  for (const folder of LIBRARIES) {
    for await (const file of sourceFiles(folder)) {
      const text = await Deno.readTextFile(new URL(file, ROOT));
      const specifiers = [
        ...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g),
      ].map((m) => m[1]!);
      for (const spec of specifiers) {
        const target = new URL(spec, new URL(file, ROOT)).pathname.slice(ROOT.pathname.length);
        const targetFolder = target.split("/")[0]!;
        if (targetFolder === folder) continue;
        const allowed = folder !== "shared" && target === "shared/mod.ts";
        if (!allowed) crossings.push(`${file} -> ${target}`);
      }
    }
  }
  assert.deepEqual(crossings, []);
});
