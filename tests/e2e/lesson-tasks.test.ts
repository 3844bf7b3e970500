// The first lab, done the way a learner does it: start it from the lesson, type the task's
// command in the browser terminal, and watch the task turn green with no click on "check";
// the progress survives a reload and a runner restart; a wrong answer explains itself.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { dockerClient } from '../../runner/docker.ts';
import { LabCluster } from '../../runner/grade/cluster.ts';
import { cleanup } from '../../runner/grade/lifecycle.ts';
import { withClusterLock } from '../../runner/grade/lock.ts';
import { labEngine } from '../../runner/server/lab-engine.ts';
import { startRunner, type Runner } from '../../runner/server/runner.ts';
import { ensureSite } from '../../runner/server/site.ts';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { TEST_CLUSTER, testCluster } from '../support/test-cluster.ts';

describe('a lab in the lesson page', { concurrency: false }, () => {
  let runner: Runner;
  let browser: Browser;
  let page: Page;
  let siteDir: string;
  let dataDir: string;
  let release: () => void = () => {};

  const start = async () => {
    runner = await startRunner({ cluster: TEST_CLUSTER, port: 0, host: '127.0.0.1', siteDir, docker: dockerClient(), labs: await labEngine(), dataDir, log: () => {} });
  };
  const task = (id: string) => page.locator(`.lab-tasks[data-lab="clusterip"] .lt-task[data-task="${id}"]`);

  before(async () => {
    await testCluster();
    // Hold the lab lock for the whole file: this test works in the lab namespace like `lab test` does.
    await new Promise<void>((ready) => {
      void withClusterLock(TEST_CLUSTER, () => new Promise<void>((done) => {
        release = done;
        ready();
      }));
    });
    siteDir = await ensureSite();
    dataDir = await mkdtemp(join(tmpdir(), 'svclab-e2e-tasks-'));
    await start();
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  });
  after(async () => {
    await browser?.close();
    await runner?.close();
    await cleanup(await LabCluster.open(TEST_CLUSTER), 'default').catch(() => {});
    release();
  });

  test('starting the lab shows its tasks, the first one failing with its reason', async () => {
    await page.goto(`${runner.url}lessons/clusterip?token=${runner.token}`);
    const panel = page.locator('.lab-tasks[data-lab="clusterip"]');
    await panel.scrollIntoViewIfNeeded();
    await panel.locator('button.lt-primary').click();
    await task('create-deployment').and(page.locator('[data-state="failing"]')).waitFor({ timeout: 120_000 });
    assert.match(await task('create-deployment').locator('.lt-reason').innerText(), /There is no Deployment web in namespace default yet\./);
  });

  test('typing the task\'s command in the terminal turns it green without a click', async () => {
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('kubectl create deployment web --image=$ECHO_IMAGE --replicas=3 --port=8080\n');
    await task('create-deployment').and(page.locator('[data-state="passed"]')).waitFor({ timeout: 120_000 });
    await task('expose').and(page.locator('[data-state="failing"]')).waitFor({ timeout: 30_000 });
    await screenshot(page, 'lesson-tasks-first-green');
  });

  test('the progress survives a reload and a runner restart', async () => {
    await page.reload();
    await task('create-deployment').and(page.locator('[data-state="passed"]')).waitFor({ timeout: 30_000 });
    const token = runner.token;
    await runner.close();
    await start();
    assert.equal(runner.token, token, 'the learner keeps their token');
    await page.goto(`${runner.url}lessons/clusterip?token=${runner.token}`);
    await task('create-deployment').and(page.locator('[data-state="passed"]')).waitFor({ timeout: 60_000 });
  });

  test('a hint at a time, and the Chinese page gives the reason in Chinese', async () => {
    const t = task('expose');
    await t.locator('.lt-help button').first().click();
    await t.locator('.lt-hints li').first().waitFor();
    assert.equal(await t.locator('.lt-hints li').count(), 1, 'one hint revealed');
    await page.goto(`${runner.url}zh/lessons/clusterip`);
    await task('expose').and(page.locator('[data-state="failing"]')).waitFor({ timeout: 60_000 });
    assert.match(await task('expose').locator('.lt-reason').innerText(), /命名空间 default 中还没有 Service web。/);
    assert.equal(await task('expose').locator('.lt-hints li').count(), 1, 'the revealed hint is remembered');
    await screenshot(page, 'lesson-tasks-zh');
  });
});
