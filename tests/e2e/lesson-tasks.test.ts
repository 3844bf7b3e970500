// The first lab, done the way a learner does it: start it from the lesson, type each task's
// command in the browser terminal, and watch every task turn green with no click on "check";
// the progress survives a reload and a runner restart; a failing task explains itself, hints
// come one at a time, the solution can be revealed and "Check now" checks at once.
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

  test('the next hint, then no more; the solution reveal; "Check now" checks at once', async () => {
    await page.goto(`${runner.url}lessons/clusterip`);
    const t = task('expose');
    await t.and(page.locator('[data-state="failing"]')).waitFor({ timeout: 60_000 });
    const hintButton = t.locator('.lt-help button').first();
    await hintButton.click();
    await t.locator('.lt-hints li').nth(1).waitFor();
    assert.equal(await t.locator('.lt-hints li').count(), 2, 'one more hint, not all of them');
    assert.match(await t.locator('.lt-hints li').nth(1).innerText(), /--target-port/);
    await hintButton.click();
    await t.locator('.lt-hints li').nth(2).waitFor();
    assert.equal(await hintButton.innerText(), 'No more hints');
    assert.ok(await hintButton.isDisabled(), 'the last hint is the last');

    assert.equal(await t.locator('.lt-solution').count(), 0);
    await t.locator('.lt-help button', { hasText: 'Show the solution' }).click();
    await t.locator('.lt-solution').waitFor();
    assert.match(await t.locator('.lt-solution pre').innerText(), /kubectl expose deployment web --port=80 --target-port=8080/);

    const checked = page.waitForResponse((r) => r.url().endsWith('/api/labs/clusterip/check') && r.request().method() === 'POST');
    await page.locator('.lab-tasks[data-lab="clusterip"] .lt-actions button', { hasText: 'Check now' }).click();
    const r = await checked;
    assert.equal(r.status(), 200);
    const states = new Map(((await r.json()) as { states: { id: string; state: string }[] }).states.map((s) => [s.id, s.state]));
    assert.deepEqual([states.get('create-deployment'), states.get('expose')], ['passed', 'failing'], 'the check ran against the cluster now');
    await task('create-deployment').and(page.locator('[data-state="passed"]')).waitFor();
    await screenshot(page, 'lesson-tasks-hints-solution');
  });

  test('every other task, done in the terminal, turns green without a click', async () => {
    const clicks: string[] = [];
    page.on('request', (req) => req.method() === 'POST' && /\/api\/labs\//.test(req.url()) && clicks.push(req.url()));
    const type = async (command: string) => {
      await page.locator('.svclab-terminal .xterm').click();
      await page.keyboard.type(`${command}\n`);
    };
    await type('kubectl expose deployment web --port=80 --target-port=8080');
    await task('expose').and(page.locator('[data-state="passed"]')).waitFor({ timeout: 120_000 });
    await type("for i in 1 2 3 4 5 6; do curl -s http://web/ | grep '^pod:'; done");
    await task('curl-by-name').and(page.locator('[data-state="passed"]')).waitFor({ timeout: 120_000 });
    await task('fix-selector').and(page.locator('[data-state="failing"]')).waitFor({ timeout: 30_000 });
    await type(`kubectl patch service shop -p '{"spec":{"selector":{"app":"shop"}}}'`);
    await task('fix-selector').and(page.locator('[data-state="passed"]')).waitFor({ timeout: 120_000 });
    await page.locator('.lab-tasks[data-lab="clusterip"] .lt-done', { hasText: 'All tasks done!' }).waitFor();
    assert.equal(await page.locator('.lab-tasks[data-lab="clusterip"] .lt-task:not([data-state="passed"])').count(), 0, 'every task is green');
    assert.deepEqual(clicks, [], 'no check was asked for');
    await page.locator('.lab-tasks[data-lab="clusterip"]').scrollIntoViewIfNeeded();
    await screenshot(page, 'lesson-tasks-all-green');
  });
});
