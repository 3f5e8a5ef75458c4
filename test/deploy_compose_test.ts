/**
 * deploy/docker-compose.yml runs Prometheus and Grafana beside the pipeline, provisioned with the
 * committed alert rules and dashboard. No Docker engine runs here, so the file is checked
 * structurally: every bind mount exists, every scrape target is a compose service on the port that
 * service serves /metrics on, Grafana's data source is the compose Prometheus and its dashboard
 * provider reads the directory the committed dashboard is mounted into. promtool checks the
 * compose Prometheus configuration when it is installed (CI installs it).
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { parse } from "yaml";

const DEPLOY = new URL("../deploy/", import.meta.url).pathname;
// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;
const readYaml = async (path: string): Promise<Json> =>
  parse(await Deno.readTextFile(join(DEPLOY, path)), { merge: true }) as Json;

const compose = await readYaml("docker-compose.yml");
const services = compose.services as Record<string, Json>;

/** Bind mounts of a service: host path (relative to deploy/) → container path. */
function binds(service: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of (services[service]?.volumes ?? []) as string[]) {
    const [source, target] = v.split(":");
    if (source?.startsWith(".")) out.set(target!, normalize(join(DEPLOY, source)));
  }
  return out;
}

/** The host file behind a container path, through the service's bind mounts (files or folders). */
function hostPath(service: string, containerPath: string): string | undefined {
  for (const [target, source] of binds(service)) {
    if (containerPath === target) return source;
    if (containerPath.startsWith(`${target}/`)) {
      return join(source, containerPath.slice(target.length));
    }
  }
  return undefined;
}

const envOf = (service: string): Record<string, string> => services[service]?.environment ?? {};

Deno.test("compose runs Prometheus and Grafana beside the pipeline, with pinned images", () => {
  for (
    const s of [
      "postgres",
      "fauxqs",
      "migrate",
      "consumer",
      "api",
      "producer",
      "prometheus",
      "grafana",
    ]
  ) {
    assert.ok(services[s], `no service "${s}"`);
  }
  assert.match(services.prometheus!.image, /^prom\/prometheus:v\d+\.\d+\.\d+$/);
  assert.match(services.grafana!.image, /^grafana\/grafana:\d+\.\d+\.\d+$/);
  // Every dependency is a service, every named volume is declared, every bind mount exists.
  const named = new Set(Object.keys(compose.volumes ?? {}));
  for (const [name, s] of Object.entries(services)) {
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const d of deps) assert.ok(services[d], `${name} depends on unknown service "${d}"`);
    for (const v of (s.volumes ?? []) as string[]) {
      const source = v.split(":")[0]!;
      if (source.startsWith(".")) {
        assert.ok(
          Deno.statSync(join(DEPLOY, source)),
          `${name} mounts "${source}", which does not exist`,
        );
      } else if (!source.startsWith("/")) {
        assert.ok(named.has(source), `${name} uses undeclared volume "${source}"`);
      }
    }
  }
  // Local only: every published port is bound to loopback.
  for (const [name, s] of Object.entries(services)) {
    for (const p of (s.ports ?? []) as string[]) assert.match(p, /^127\.0\.0\.1:/, `${name}: ${p}`);
  }
});

Deno.test("Prometheus loads the committed alert rules and scrapes every consumer and the API", async () => {
  const prom = services.prometheus!;
  const configArg = (prom.command as string[]).find((a) => a.startsWith("--config.file="));
  assert.ok(configArg, "prometheus has no --config.file");
  const containerConfig = configArg.slice("--config.file=".length);
  const configFile = hostPath("prometheus", containerConfig);
  assert.ok(configFile, `${containerConfig} is not mounted`);
  const config = parse(await Deno.readTextFile(configFile)) as Json;

  // Rule files resolve, inside the container, to the committed alerts.yml.
  const rules = (config.rule_files as string[]).map((r) =>
    hostPath("prometheus", r.startsWith("/") ? r : join(dirname(containerConfig), r))
  );
  assert.deepEqual(rules, [join(DEPLOY, "prometheus/alerts.yml")]);

  // Targets are compose services, on the port each serves /metrics on.
  const targets = new Map<string, number>();
  for (const job of config.scrape_configs as Json[]) {
    for (const sd of job.dns_sd_configs ?? []) {
      for (const n of sd.names) targets.set(n, sd.port);
    }
    for (const sc of job.static_configs ?? []) {
      for (const t of sc.targets as string[]) {
        const [host, port] = t.split(":");
        if (host !== "localhost") targets.set(host!, Number(port));
      }
    }
  }
  assert.equal(targets.get("consumer"), Number(envOf("consumer").CONSUMER_HEALTH_PORT));
  assert.equal(targets.get("api"), Number(envOf("api").PORT));
  for (const host of targets.keys()) {
    assert.ok(services[host], `scrape target "${host}" is no service`);
  }
  // Every replica is scraped: DNS service discovery, not one static address.
  const consumerJob = (config.scrape_configs as Json[]).find((j) =>
    (j.dns_sd_configs ?? []).some((sd: Json) => sd.names.includes("consumer"))
  );
  assert.equal(consumerJob?.dns_sd_configs[0].type, "A");
});

Deno.test("Grafana is provisioned with the compose Prometheus and the committed dashboard", async () => {
  const dsFile = hostPath("grafana", "/etc/grafana/provisioning/datasources/prometheus.yml");
  assert.ok(dsFile);
  const ds = parse(await Deno.readTextFile(dsFile)) as Json;
  const [source] = ds.datasources as Json[];
  assert.equal(source?.type, "prometheus");
  assert.equal(source?.isDefault, true);
  const url = new URL(source!.url);
  assert.equal(url.hostname, "prometheus");
  assert.ok(services[url.hostname]);
  assert.equal(url.port, "9090");

  const providerFile = hostPath("grafana", "/etc/grafana/provisioning/dashboards/scalestream.yml");
  assert.ok(providerFile);
  const provider = (parse(await Deno.readTextFile(providerFile)) as Json).providers[0] as Json;
  assert.equal(provider.type, "file");
  const dashboardPath = `${provider.options.path}/scalestream.json`;
  assert.equal(hostPath("grafana", dashboardPath), join(DEPLOY, "grafana/scalestream.json"));
  assert.equal(envOf("grafana").GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, dashboardPath);
  const dashboard = JSON.parse(await Deno.readTextFile(join(DEPLOY, "grafana/scalestream.json")));
  assert.equal(dashboard.uid, "scalestream");
  // Its panels pick the data source through a variable, which the default data source fills.
  assert.ok(
    dashboard.templating.list.some((v: Json) =>
      v.type === "datasource" && v.query === "prometheus"
    ),
  );
});

const promtool = await new Deno.Command("promtool", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "promtool accepts the compose Prometheus configuration and its rules",
  ignore: !promtool,
  async fn() {
    const out = await new Deno.Command("promtool", {
      args: ["check", "config", "prometheus.compose.yml"],
      cwd: join(DEPLOY, "prometheus"),
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `promtool check config failed:\n${text}`);
  },
});
