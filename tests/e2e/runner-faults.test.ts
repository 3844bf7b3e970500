// When the runner or the cluster is missing, in Debian's chromium: with the runner stopped
// the lesson page says so and, when the runner is back on the same port, its terminal and
// task panel come back by themselves (no reload); with no lab cluster the page offers to
// start one, and the start button brings up a real one-node cluster with its progress shown
// until the terminal has a shell in it. The cluster made here is deleted even on failure.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { deleteCluster } from '../../runner/cluster/delete.ts';
import { readRecord } from '../../runner/cluster/state.ts';
import { dockerClient } from '../../runner/docker.ts';
import { labEngine } from '../../runner/server/lab-engine.ts';
import { startRunner, type Runner } from '../../runner/server/runner.ts';
import { ensureSite } from '../../runner/server/site.ts';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { TEST_CLUSTER, testCluster } from '../support/test-cluster.ts';

const PROMPT = /svclab:\S*[#$]/;
/** The cluster the "start" button makes: named after the shared test cluster, so that parallel runs on one machine do not meet. */
const FRESH = `${TEST_CLUSTER}-fresh`;

async function screenText(page: Page): Promise<string> {
  const rows = page.locator('.svclab-terminal .xterm-rows');
  await rows.scrollIntoViewIfNeeded();
  return rows.innerText();
}

async function waitForScreen(page: Page, re: RegExp, what: string, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  let text = '';
  while (Date.now() < deadline) {
    text = await screenText(page).catch(() => '');
    if (re.test(text)) return text;
    await page.waitForTimeout(250);
  }
  throw new Error(`timed out waiting for ${what}; the terminal shows:\n${text}`);
}

describe('the lesson page without its runner or its cluster', { concurrency: false }, () => {
  let browser: Browser;
  let siteDir: string;
  const runners: Runner[] = [];

  const dropFresh = async () => {
    if (await readRecord(FRESH)) await deleteCluster(dockerClient(), FRESH);
  };

  before(async () => {
    await testCluster();
    await dropFresh();
    siteDir = await ensureSite();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    for (const r of runners) await r.close().catch(() => {});
    await dropFresh();
  });

  test('the runner stops: the page says so, and reconnects by itself when it is back', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'svclab-e2e-faults-'));
    const start = async (port: number) => {
      const r = await startRunner({ cluster: TEST_CLUSTER, port, host: '127.0.0.1', siteDir, docker: dockerClient(), labs: await labEngine(), dataDir, log: () => {} });
      runners.push(r);
      return r;
    };
    const first = await start(0);
    const port = Number(new URL(first.url).port);
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
    await page.goto(`${first.url}lessons/clusterip?token=${first.token}`);
    await page.locator('.lab-tasks[data-lab="clusterip"] button.lt-primary').waitFor({ timeout: 30_000 });
    await waitForScreen(page, PROMPT, 'the shell prompt');
    await page.evaluate('window.__sameDocument = true');

    await first.close();
    await page.locator('.svclab-terminal-banner', { hasText: 'The svclab runner is not reachable. Reconnecting by itself…' }).waitFor({ timeout: 30_000 });
    await page.locator('.lab-tasks .lt-offline', { hasText: 'The svclab runner is not reachable' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('.svclab-terminal').getAttribute('data-connected'), 'no');
    await page.locator('.svclab-terminal').scrollIntoViewIfNeeded();
    await screenshot(page, 'lesson-runner-down');
    await page.waitForTimeout(3000);

    const second = await start(port);
    assert.equal(second.token, first.token, 'the same learner');
    // The page's backoff tops out at 10 s (terminal) and 15 s (events).
    await page.locator('.svclab-terminal[data-connected="yes"]').waitFor({ timeout: 30_000 });
    await page.locator('.svclab-terminal-banner').waitFor({ state: 'detached', timeout: 30_000 });
    await page.locator('.lab-tasks .lt-offline').waitFor({ state: 'detached', timeout: 30_000 });
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('echo back-$((40+2))\n');
    await waitForScreen(page, /^back-42/m, 'the shell after the runner came back');
    assert.equal(await page.evaluate('window.__sameDocument'), true, 'no reload');
    assert.equal(await page.locator('.lab-tasks[data-lab="clusterip"] button.lt-primary').innerText(), 'Start this lab', 'the task panel is back');
    await screenshot(page, 'lesson-runner-back');
    await page.context().close();
    await second.close();
  });

  test('no lab cluster: the page offers to start one and shows the progress until a shell answers', async () => {
    const runner = await startRunner({ cluster: FRESH, workers: 0, port: 0, host: '127.0.0.1', siteDir, docker: dockerClient(), dataDir: await mkdtemp(join(tmpdir(), 'svclab-e2e-fresh-')), log: () => {} });
    runners.push(runner);
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
    await page.goto(`${runner.url}lessons/intro?token=${runner.token}`);
    const status = page.locator('.svclab-terminal-cluster');
    await status.locator('span', { hasText: 'The lab cluster is not running.' }).waitFor({ timeout: 30_000 });
    const button = status.locator('button', { hasText: 'Start the lab cluster' });
    await button.waitFor();
    assert.equal(await page.locator('.svclab-terminal-banner').count(), 0, 'the status line, not a second banner');
    await status.scrollIntoViewIfNeeded();
    await screenshot(page, 'lesson-cluster-absent');

    await button.click();
    await status.locator('span', { hasText: 'Starting the lab cluster…' }).waitFor({ timeout: 15_000 });
    assert.equal(await button.count(), 0, 'no second start while starting');
    const progress = status.locator('.svclab-terminal-progress');
    await progress.filter({ hasText: `• Creating kind cluster "${FRESH}" (1 control-plane, 0 workers` }).waitFor({ timeout: 120_000 });
    await page.waitForFunction(() => {
      const box = document.querySelector('.svclab-terminal-progress');
      return !!box && box.scrollHeight > box.clientHeight && box.scrollHeight - box.scrollTop - box.clientHeight < 2;
    }, undefined, { timeout: 10_000 });
    await screenshot(page, 'lesson-cluster-starting');
    await progress.filter({ hasText: '✓ Creating kind cluster' }).waitFor({ timeout: 240_000 });

    await status.waitFor({ state: 'detached', timeout: 300_000 });
    await waitForScreen(page, PROMPT, 'the shell prompt in the new cluster', 120_000);
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('kubectl get nodes\n');
    await waitForScreen(page, new RegExp(`${FRESH}-control-plane\\s+Ready`), 'the new cluster\'s node');
    await screenshot(page, 'lesson-cluster-started');
    await page.context().close();
  });
});
