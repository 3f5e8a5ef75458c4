/**
 * Compiles one ScaleStream program into a self-contained binary with `deno compile`, with the
 * permissions baked in. The Dockerfile, CI and the tests all call this, so the flags live in one
 * place: `deno task build <consumer|producer|api|migrate|lake> [--out FILE]`.
 *
 * The lake's program is the exception: it runs with `deno run` from the image's module cache, and
 * its "build" prepares its sources and that cache and writes the launcher script that runs it (see
 * {@linkcode RUN_FROM_CACHE}).
 *
 * Every program gets network, environment, read and system-info access (the AWS SDK reads its
 * config files and OS details; `Deno.hostname()` names the worker) and nothing else: no
 * subprocesses, no FFI, and no writes except the producer's ledger file. `migrations/` is embedded because the migrator reads `migrations/*.sql`
 * relative to `shared/migrate.ts`; `--exclude-unused-npm` keeps the infrastructure and test
 * packages of `deno.json` (aws-cdk-lib, …) out of the binary.
 */
import { parseFlags, runMain, UsageError } from "../shared/mod.ts";

/** The programs a container can run, by image target name. */
export const PROGRAMS = {
  consumer: "consumer/main.ts",
  producer: "producer/main.ts",
  api: "api/main.ts",
  migrate: "migrations/main.ts",
  lake: "consumer/lake/main.ts",
} as const;

export type Program = keyof typeof PROGRAMS;

/** Runtime permissions every compiled program gets. */
const BASE_PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-sys"] as const;

/**
 * Runtime permissions of each program (and of `deno run` in its place). Only the producer may
 * write, for its `--ledger FILE`; the lake writes its local mirror (LAKE_CACHE_DIR) and loads
 * DuckDB, a Node-API addon, which Deno allows only with `--allow-ffi`.
 */
export function permissionsOf(program: Program): string[] {
  if (program === "producer") return [...BASE_PERMISSIONS, "--allow-write"];
  if (program === "lake") return [...BASE_PERMISSIONS, "--allow-write", "--allow-ffi"];
  return [...BASE_PERMISSIONS];
}

/**
 * Programs the image runs with `deno run --cached-only` from a module cache filled at build time,
 * instead of a `deno compile`d binary. The lake's `jobs` (batch view, reports) and `query` need
 * DuckDB, whose addon `duckdb.node` links `libduckdb.so` beside it; a compiled binary extracts the
 * addon alone to a temporary file, so loading it fails (denoland/deno#29203, open for 2.9).
 */
export const RUN_FROM_CACHE: ReadonlySet<Program> = new Set<Program>(["lake"]);

/**
 * What a {@linkcode RUN_FROM_CACHE} program's image holds besides the module cache: its import
 * graph (the lake imports `shared/` and `consumer/lake/`) and the migrations it applies, copied as
 * they are, and deno.json and deno.lock, cut down by {@linkcode prepareRunFromCache}.
 */
export const RUN_FROM_CACHE_SOURCES = ["shared", "consumer", "migrations"] as const;

/** The npm packages (by name) that `entry`'s import graph imports, from `deno info --json`. */
async function importedNpmPackages(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { npmPackage?: string }[];
    npmPackages: Record<string, { name: string }>;
  };
  const names = new Set<string>();
  for (const m of info.modules) {
    if (m.npmPackage) names.add(info.npmPackages[m.npmPackage]!.name);
  }
  return names;
}

/**
 * Prepares what a {@linkcode RUN_FROM_CACHE} program's image holds: copies
 * {@linkcode RUN_FROM_CACHE_SOURCES} into `src`, writes a deno.json whose imports are only the npm
 * packages the program's graph imports (Deno installs every package deno.json lists, and the image
 * must not carry the CDK, the emulators or the browser driver), then runs `deno cache` there into
 * `denoDir` (default: Deno's own), which also cuts deno.lock down to those packages' tree.
 */
export async function prepareRunFromCache(
  program: Program,
  options: { src: string; denoDir?: string },
): Promise<CompileResult> {
  const { src } = options;
  await Deno.mkdir(src, { recursive: true });
  for (const path of RUN_FROM_CACHE_SOURCES) {
    const copied = await new Deno.Command("cp", {
      args: ["-R", new URL(path, ROOT).pathname, `${src}/`],
    }).output();
    if (!copied.success) throw new Error(new TextDecoder().decode(copied.stderr));
  }
  const used = await importedNpmPackages(PROGRAMS[program]);
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    tasks?: unknown;
    imports: Record<string, string>;
  };
  delete config.tasks;
  config.imports = Object.fromEntries(
    Object.entries(config.imports).filter(([name]) => used.has(name.replace(/\/$/, ""))),
  );
  await Deno.writeTextFile(`${src}/deno.json`, JSON.stringify(config, null, 2) + "\n");
  await Deno.copyFile(new URL("deno.lock", ROOT), `${src}/deno.lock`);
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (options.denoDir) env.DENO_DIR = options.denoDir;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    // Not --frozen: the lock file loses the packages the cut deno.json no longer lists. Versions
    // come from the lock; the program then runs with --frozen against this lock.
    args: ["cache", "--node-modules-dir=none", "--config", `${src}/deno.json`, PROGRAMS[program]],
    cwd: src,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { success: code === 0, code, stderr: new TextDecoder().decode(stderr) };
}

/**
 * Arguments of `deno run` for `program` as its image runs it: cached modules only, the lock file
 * enforced, the configuration named (the container's working directory is not `root`).
 */
export function runArgs(program: Program, root = "."): string[] {
  return [
    "run",
    "--cached-only",
    "--frozen",
    "--node-modules-dir=none",
    "--no-prompt",
    "--config",
    `${root}/deno.json`,
    ...permissionsOf(program),
    `${root}/${PROGRAMS[program]}`,
  ];
}

/**
 * The launcher a {@linkcode RUN_FROM_CACHE} program's image runs as `/app/scalestream`: `deno run`
 * of the program under `root` (where the image keeps the sources and deno.json/deno.lock).
 */
export function launcherScript(
  program: Program,
  options: { root?: string; deno?: string } = {},
): string {
  const args = runArgs(program, options.root ?? "/app/src");
  return [
    "#!/bin/sh",
    `# ScaleStream ${program}: \`deno run\` from the image's module cache (deploy/build.ts says why).`,
    `exec ${options.deno ?? "deno"} ${args.join(" ")} "$@"`,
    "",
  ].join("\n");
}

/** The repository root (this file is `deploy/build.ts`). */
export const ROOT: URL = new URL("../", import.meta.url);

/**
 * npm package folders `deno compile` 2.9 cannot embed: it overflows its stack on the test data of
 * `bintrees` (a dependency of prom-client), the regression reported as denoland/deno#36746. None of
 * them is code the programs load.
 */
const UNEMBEDDABLE_NPM_DIRS = [["bintrees", "test"]] as const;

/** The existing folders of {@linkcode UNEMBEDDABLE_NPM_DIRS} in the npm cache, as `--exclude` args. */
export async function npmExcludes(): Promise<string[]> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).output();
  const npmCache = (JSON.parse(new TextDecoder().decode(stdout)) as { npmCache?: string })
    .npmCache;
  if (!npmCache) return [];
  const out: string[] = [];
  for (const [pkg, sub] of UNEMBEDDABLE_NPM_DIRS) {
    const base = `${npmCache}/registry.npmjs.org/${pkg}`;
    try {
      for await (const version of Deno.readDir(base)) {
        if (version.isDirectory) out.push("--exclude", `${base}/${version.name}/${sub}`);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return out;
}

/** Arguments of `deno compile` for `program`, writing the binary to `out`. */
export function compileArgs(program: Program, out: string, excludes: string[] = []): string[] {
  return [
    "compile",
    "--frozen",
    // The project's node_modules (deno.json: "nodeModulesDir": "auto", for the lake's native
    // DuckDB) would be embedded whole; from the global cache only the packages used are.
    "--node-modules-dir=none",
    "--exclude-unused-npm",
    "--no-prompt",
    ...permissionsOf(program),
    ...excludes,
    "--include",
    "migrations",
    "--output",
    out,
    PROGRAMS[program],
  ];
}

export interface CompileResult {
  success: boolean;
  code: number;
  stderr: string;
}

/**
 * Runs `deno compile` for `program` from the repository root. `denortBin` sets `DENORT_BIN`, the
 * base runtime binary `deno compile` otherwise downloads for the target.
 */
export async function compileProgram(
  program: Program,
  out: string,
  options: { denortBin?: string } = {},
): Promise<CompileResult> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (options.denortBin) env.DENORT_BIN = options.denortBin;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(program, out, await npmExcludes()),
    cwd: ROOT,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { success: code === 0, code, stderr: new TextDecoder().decode(stderr) };
}

const USAGE = `Usage: deno task build <${
  Object.keys(PROGRAMS).join("|")
}> [--out FILE] [--src DIR] [--deno-dir DIR]
  --src, --deno-dir   for the lake (run from a module cache): where its sources and cache go`;

if (import.meta.main) {
  await runMain(async (args) => {
    const { values, positionals } = parseFlags(args, USAGE, {
      out: { type: "string" },
      src: { type: "string" },
      "deno-dir": { type: "string" },
      help: { type: "boolean", default: false },
    }, true);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const program = positionals[0];
    if (program === undefined || !(program in PROGRAMS) || positionals.length > 1) {
      throw new UsageError(
        program === undefined ? "Missing program" : `Unknown program "${positionals.at(-1)}"`,
        USAGE,
      );
    }
    const out = values.out ?? `dist/scalestream-${program}`;
    if (RUN_FROM_CACHE.has(program as Program)) {
      const src = values.src ?? `dist/scalestream-${program}-src`;
      const prepared = await prepareRunFromCache(program as Program, {
        src,
        ...(values["deno-dir"] ? { denoDir: values["deno-dir"] } : {}),
      });
      if (!prepared.success) {
        console.error(prepared.stderr);
        return prepared.code || 1;
      }
      const root = src.startsWith("/") ? src : `${Deno.cwd()}/${src}`;
      await Deno.writeTextFile(out, launcherScript(program as Program, { root }), { mode: 0o755 });
      console.error(`Wrote ${src} and the launcher of ${PROGRAMS[program as Program]} to ${out}`);
      return 0;
    }
    const result = await compileProgram(program as Program, out);
    if (!result.success) {
      console.error(result.stderr);
      return result.code || 1;
    }
    console.error(`Compiled ${PROGRAMS[program as Program]} to ${out}`);
    return 0;
  });
}
