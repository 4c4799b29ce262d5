/**
 * Headless screenshots of a web page with the machine's Chromium (Debian package `chromium`,
 * installed by scripts/setup.d/50-local-stack.sh). playwright-core drives it; it never downloads
 * a browser of its own. Each call uses a fresh, throw-away profile directory.
 *
 * CLI: `npx tsx local/screenshot.ts <url> <out.png> [text to wait for]`
 */
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Chromium executable used unless `CHROMIUM_PATH` says otherwise. */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/**
 * Flags for a quiet, offline, headless Chromium in a container: no sandbox (we run as root), no
 * GPU, and none of the background services that would try to reach the network.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Options of {@link screenshot}. */
export interface ScreenshotOptions {
  /** Page to load (http or https URL). */
  readonly url: string;
  /** Where to write the PNG; parent directories are created. */
  readonly path: string;
  /** Wait until this text is visible on the page before taking the picture. @default - no wait beyond page load */
  readonly waitForText?: string;
  /** Upper bound for loading the page and finding the text, in milliseconds. @default 60000 */
  readonly timeoutMs?: number;
  /** Viewport in CSS pixels. @default { width: 1440, height: 900 } */
  readonly viewport?: { readonly width: number; readonly height: number };
  /** Chromium executable. @default - `CHROMIUM_PATH` or /usr/bin/chromium */
  readonly executablePath?: string;
}

/** What {@link screenshot} produced. */
export interface ScreenshotResult {
  /** Path of the PNG written. */
  readonly path: string;
  /** Size of the PNG in bytes. */
  readonly bytes: number;
  /** Visible text of the page body when the picture was taken (for assertions). */
  readonly text: string;
}

/**
 * Loads `url` in headless Chromium, optionally waits for `waitForText`, and writes a full-page PNG.
 * @throws Error if the Chromium executable is missing, the URL is not http(s), the page does not
 *   load, or the text does not appear within `timeoutMs` (the message names the URL and text).
 */
export async function screenshot(options: ScreenshotOptions): Promise<ScreenshotResult> {
  const executablePath = options.executablePath ?? process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM;
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium not found at '${executablePath}': run scripts/setup.sh (Debian package chromium) or set CHROMIUM_PATH`);
  }
  if (!/^https?:\/\//.test(options.url)) {
    throw new Error(`url must start with http:// or https://, got '${options.url}'`);
  }
  const timeout = options.timeoutMs ?? 60_000;
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS],
    viewport: { width: options.viewport?.width ?? 1440, height: options.viewport?.height ?? 900 },
    timeout,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(options.url, { waitUntil: 'load', timeout });
    if (options.waitForText !== undefined) {
      try {
        await page.getByText(options.waitForText).first().waitFor({ state: 'visible', timeout });
      } catch (err) {
        throw new Error(`text '${options.waitForText}' did not appear on ${options.url} within ${timeout} ms: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    mkdirSync(dirname(options.path), { recursive: true });
    await page.screenshot({ path: options.path, fullPage: true });
    const text = await page.locator('body').innerText();
    return { path: options.path, bytes: statSync(options.path).size, text };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [url, out, text] = process.argv.slice(2);
  if (!url || !out) {
    console.error('usage: npx tsx local/screenshot.ts <url> <out.png> [text to wait for]');
    process.exit(2);
  }
  screenshot({ url, path: out, waitForText: text })
    .then((r) => console.log(`wrote ${r.path} (${r.bytes} bytes)`))
    .catch((err) => {
      console.error((err as Error).message);
      process.exit(1);
    });
}
