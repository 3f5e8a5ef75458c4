/**
 * Debian's chromium driven by playwright-core, for end-to-end tests of the dashboard. Tests call
 * `chromiumPath()` to decide whether to skip (only when the browser is not installed locally; CI
 * installs it), then `launchBrowser()`, which uses a fresh profile directory removed on `close()`.
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Where `.ci/run` installs chromium (`apt-get install chromium`). */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** The browser's path when it is installed, else null. */
export function chromiumPath(): string | null {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile ? CHROMIUM_PATH : null;
  } catch {
    return null;
  }
}

/** The browser's path, else null after warning that `what` is skipped (for a test's `ignore`). */
export function chromiumOrWarn(what: string): string | null {
  const path = chromiumPath();
  if (!path) {
    console.warn(
      `Skipping ${what}: no chromium at "${CHROMIUM_PATH}" ` +
        "(.ci/run installs it with apt-get; locally: apt-get install chromium).",
    );
  }
  return path;
}

export interface LaunchedBrowser {
  context: BrowserContext;
  /** A new tab with the given viewport (CSS pixels). */
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/** A headless chromium with no network side-channels (updates, sync, QUIC) and its own profile. */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(`Chromium is not installed at "${CHROMIUM_PATH}"`);
  const userDataDir = await Deno.makeTempDir({ prefix: "scalestream-chromium-" });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async newPage(viewport = { width: 1600, height: 1000 }) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
    },
  };
}
