/**
 * Production programs carry no development-only dependency: `deno info --json` on each program a
 * container runs, on the server client and on the lake's program lists the npm packages its import
 * graph reaches (static and dynamic imports, transitively), and none may be an emulator (those live
 * in `deploy/local/`), a browser driver, a load tool or the CDK.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);

/** The programs the images run (deploy/build.ts compiles these). */
const PRODUCTION_PROGRAMS = [
  "consumer/main.ts",
  "producer/main.ts",
  "api/main.ts",
  "migrations/main.ts",
];

/**
 * Production code outside the images: the server client services import (and bundle for Node) and
 * the data lake's program (the `lake jobs` task).
 */
const PRODUCTION_ENTRY_POINTS = [
  "producer/client/mod.ts",
  "consumer/lake/main.ts",
];

const DEVELOPMENT_ONLY = [
  "fauxqs",
  "@electric-sql/pglite",
  "@electric-sql/pglite-socket",
  "playwright-core",
  "autocannon",
  "aws-cdk-lib",
];

interface DenoInfo {
  modules: { kind?: string; specifier: string; npmPackage?: string }[];
  npmPackages: Record<string, { name: string; dependencies: string[] }>;
}

/** The names of the npm packages `program`'s import graph reaches. */
async function npmPackagesOf(program: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", program],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo;
  const names = new Set<string>();
  const pending = info.modules.flatMap((m) => m.npmPackage ? [m.npmPackage] : []);
  const seen = new Set<string>();
  while (pending.length > 0) {
    const id = pending.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const pkg = info.npmPackages[id];
    if (!pkg) continue;
    names.add(pkg.name);
    pending.push(...pkg.dependencies);
  }
  return names;
}

for (const program of [...PRODUCTION_PROGRAMS, ...PRODUCTION_ENTRY_POINTS]) {
  Deno.test(`${program} imports no emulator, browser driver, load tool or CDK`, async () => {
    const names = await npmPackagesOf(program);
    assert.ok(names.has("postgres"), `the graph of ${program} was not read: ${[...names]}`);
    const found = DEVELOPMENT_ONLY.filter((name) => names.has(name));
    assert.deepEqual(found, [], `${program} reaches ${found.join(", ")}`);
  });
}
