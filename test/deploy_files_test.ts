/**
 * The container and CI files agree with the code: one image target per program, non-root, health
 * checks where there is a server; compose and the workflows build targets that exist; CI runs
 * .ci/run against PostgreSQL 15.
 */
import assert from "node:assert/strict";
import { PROGRAMS, RUN_FROM_CACHE } from "../deploy/build.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));
const dockerfile = await read("deploy/Dockerfile");

/** The instructions of one stage, from its FROM line to the next. */
function stage(name: string): string {
  const m = new RegExp(`^FROM \\S+ AS ${name}\\n([\\s\\S]*?)(?=^FROM |(?![\\s\\S]))`, "m").exec(
    dockerfile,
  );
  assert.ok(m, `no stage "${name}" in deploy/Dockerfile`);
  return m[1]!;
}

Deno.test("deploy/Dockerfile has one non-root target per program, built by deploy/build.ts", () => {
  assert.match(dockerfile, /^FROM denoland\/deno:\$\{DENO_VERSION\} AS source$/m);
  assert.match(dockerfile, /^ARG DENO_VERSION=\d+\.\d+\.\d+$/m);
  // No whole-project install: each build stage fetches its own program's graph only.
  assert.doesNotMatch(dockerfile, /deno install/);
  assert.match(stage("runtime"), /^USER 10001:10001$/m);
  for (const [program, entry] of Object.entries(PROGRAMS)) {
    assert.match(
      stage(`build-${program}`),
      new RegExp(`deno cache --frozen --node-modules-dir=none ${entry.replace(".", "\\.")} `),
    );
    assert.match(stage(`build-${program}`), new RegExp(`deploy/build\\.ts ${program} `));
    assert.match(stage(program), new RegExp(`COPY --from=build-${program} `));
  }
  assert.match(stage("consumer"), /HEALTHCHECK .*\n.*healthcheck\.sh", "8081"/);
  assert.match(stage("api"), /HEALTHCHECK .*\n.*healthcheck\.sh", "8080"/);
});

Deno.test("the lake image runs `deno run --cached-only` over the sources and cache built for it", () => {
  assert.ok(RUN_FROM_CACHE.has("lake"));
  const build = stage("build-lake");
  // deploy/build.ts prepares /app/src and /app/deno-dir; the launcher must run from them.
  assert.match(
    build,
    /deploy\/build\.ts lake --out \/out\/scalestream --src \/app\/src --deno-dir \/app\/deno-dir/,
  );
  assert.match(build, /DENO_DIR=\/app\/deno-dir [^\n]*\/out\/scalestream query --no-sync/);
  const lake = stage("lake");
  assert.match(lake, /^COPY --from=source --chmod=0755 \/usr\/bin\/deno \/usr\/local\/bin\/deno$/m);
  assert.match(lake, /^COPY --from=build-lake \/app\/src \/app\/src$/m);
  assert.match(lake, /^COPY --from=build-lake \/app\/deno-dir \/app\/deno-dir$/m);
  assert.match(
    lake,
    /^COPY --from=build-lake --chmod=0755 \/out\/scalestream \/app\/scalestream$/m,
  );
  assert.match(lake, /DENO_DIR=\/app\/deno-dir/);
  assert.match(lake, /LAKE_CACHE_DIR=\/tmp\//);
});

Deno.test("docker-compose builds existing targets and runs PostgreSQL 15 and fauxqs", async () => {
  const compose = await read("deploy/docker-compose.yml");
  const targets = [...compose.matchAll(/target: (\w+)/g)].map((m) => m[1]!);
  assert.deepEqual(targets.sort(), ["api", "consumer", "migrate", "producer"]);
  for (const t of targets) stage(t);
  assert.match(compose, /image: postgres:15\b/);
  assert.match(compose, /kibertoad\/fauxqs/);
});

Deno.test("the CI workflow runs .ci/run against PostgreSQL 15 and builds every image", async () => {
  const ci = await read(".github/workflows/ci.yml");
  assert.match(ci, /run: bash \.ci\/run/);
  assert.match(ci, /image: postgres:15\b/);
  assert.match(ci, /chromium/);
  const matrix = /target: \[([^\]]+)\]/.exec(ci)?.[1]?.split(",").map((s) => s.trim()).sort();
  assert.deepEqual(matrix, Object.keys(PROGRAMS).sort());
  const deploy = await read(".github/workflows/deploy.yml");
  assert.match(deploy, /id-token: write/);
  assert.doesNotMatch(deploy, /AWS_SECRET_ACCESS_KEY/);
  for (const p of Object.keys(PROGRAMS)) assert.ok(deploy.includes(p), `deploy.yml skips ${p}`);
});
