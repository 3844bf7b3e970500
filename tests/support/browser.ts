// Debian's chromium driven by playwright-core (no browser downloads on these machines).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from './cli.ts';

export const CHROMIUM = process.env.SVCLAB_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Saves a screenshot under test-results/ (kept by CI as an artifact). */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = join(repoRoot, 'test-results', 'screenshots');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

/** The visible text of the xterm under `scope` (its DOM renderer keeps one div per row, rendered only while on screen). */
export async function screenText(page: Page, scope = '.svclab-terminal'): Promise<string> {
  const rows = page.locator(`${scope} .xterm-rows`).first();
  await rows.scrollIntoViewIfNeeded();
  return rows.innerText();
}

/** Waits until the terminal under `scope` shows `re`; fails with what it shows instead. */
export async function waitForScreen(page: Page, re: RegExp, what: string, ms = 30_000, scope = '.svclab-terminal'): Promise<string> {
  const deadline = Date.now() + ms;
  let text = '';
  while (Date.now() < deadline) {
    text = await screenText(page, scope).catch(() => '');
    if (re.test(text)) return text;
    await page.waitForTimeout(250);
  }
  throw new Error(`timed out waiting for ${what}; the terminal shows:\n${text}`);
}
