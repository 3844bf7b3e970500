// A learner's first minutes, in Debian's chromium against the real runner and the real
// lab cluster: the lesson opens, the terminal has a shell in the cluster, commands run
// from the lesson, a reload restores the same shell and screen, the page switches to Chinese,
// the shell follows the window size, a flood of output leaves the page usable, a bad token gets
// nothing, and without a grading engine the task panel says so.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { dockerClient } from '../../runner/docker.ts';
import { labEngine } from '../../runner/server/lab-engine.ts';
import { startRunner, type Runner } from '../../runner/server/runner.ts';
import { ensureSite } from '../../runner/server/site.ts';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { TEST_CLUSTER, testCluster } from '../support/test-cluster.ts';

/** The terminal's visible text (xterm's DOM renderer keeps one div per row; it only renders while on screen). */
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
    await page.waitForTimeout(200);
  }
  throw new Error(`timed out waiting for ${what}; the terminal shows:\n${text}`);
}

describe('a lesson with its terminal', { concurrency: false }, () => {
  let runner: Runner;
  let browser: Browser;
  let page: Page;
  let siteDir: string;

  before(async () => {
    await testCluster();
    siteDir = await ensureSite();
    runner = await startRunner({ cluster: TEST_CLUSTER, port: 0, host: '127.0.0.1', siteDir, docker: dockerClient(), labs: await labEngine(), dataDir: await mkdtemp(join(tmpdir(), 'svclab-e2e-')), log: () => {} });
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  });
  after(async () => {
    await browser?.close();
    await runner?.close();
  });

  let exits = 0;
  /** Leaves a node shell and waits until the toolbox shell answers again. */
  async function exitNodeShell(): Promise<void> {
    const n = ++exits;
    await page.keyboard.type('exit\n');
    // Keys typed while node-shell tears its pod down can be swallowed by the ending
    // kubectl exec: ask again until the toolbox shell answers.
    let back = false;
    for (let i = 0; i < 6 && !back; i++) {
      await page.keyboard.type(`echo back-in-the-toolbox-${n}-$((40+${i}))\n`);
      back = await waitForScreen(page, new RegExp(`back-in-the-toolbox-${n}-${40 + i}\\b`), 'the toolbox shell after exit', 10_000).then(() => true, () => false);
    }
    assert.ok(back, 'the toolbox shell answers after the node shell exits');
  }

  test('the first lesson opens and its terminal shows a prompt', async () => {
    await page.goto(`${runner.url}lessons/intro?token=${runner.token}`);
    await page.locator('h1', { hasText: 'What a Service is' }).waitFor();
    assert.ok(!page.url().includes('token='), 'the token leaves the address bar');
    await waitForScreen(page, /svclab:\S*[#$]/, 'the shell prompt');
    await screenshot(page, 'lesson-intro-terminal');
  });

  test('typing kubectl get nodes shows the cluster\'s nodes', async () => {
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('kubectl get nodes\n');
    const text = await waitForScreen(page, new RegExp(`${TEST_CLUSTER}-worker2\\s+Ready`), 'the node list');
    assert.match(text, new RegExp(`${TEST_CLUSTER}-control-plane\\s+Ready\\s+control-plane`));
  });

  test('"run in terminal" on a lesson command runs it, and the terminal keeps the focus', async () => {
    const nodeLists = (text: string) => text.split(`${TEST_CLUSTER}-worker2`).length - 1;
    const before = nodeLists(await screenText(page));
    const block = page.locator('.svclab-runnable', { hasText: 'kubectl get nodes' }).first();
    await block.locator('button.svclab-run').click();
    // The block runs `kubectl get nodes` and then `node-shell`, which picks the first worker.
    await waitForScreen(page, new RegExp(`root shell on node ${TEST_CLUSTER}-worker\\b`), 'the second command of the block: a node shell', 90_000);
    assert.equal(nodeLists(await screenText(page)), before + 1, 'the block printed the node list once more');
    await exitNodeShell();
    await page.keyboard.type('echo ran-from-the-lesson-$((20+22))\n');
    await waitForScreen(page, /ran-from-the-lesson-42/, 'the echo');
  });

  test('Ctrl+Shift+E moves the focus out of the terminal', async () => {
    await page.locator('.svclab-terminal .xterm').click();
    assert.equal(await page.evaluate("document.activeElement?.classList.contains('xterm-helper-textarea')"), true);
    await page.keyboard.press('Control+Shift+E');
    assert.equal(await page.evaluate('document.activeElement?.className'), 'svclab-terminal-after');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate("!!document.activeElement?.closest('.svclab-terminal')"), false, 'Tab goes on to the rest of the page');
    await page.locator('.svclab-terminal .xterm').click();
  });

  test('Ctrl+Shift+F searches the output: matches counted, Enter steps through them, Escape returns to the shell', async () => {
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('for i in 1 2 3; do echo "needle-$((7*6))"; done\n');
    await waitForScreen(page, /needle-42[\s\S]*needle-42[\s\S]*needle-42/, 'three lines of output');
    await page.keyboard.press('Control+Shift+F');
    const box = page.locator('.svclab-terminal-search input');
    await box.waitFor();
    assert.equal(await page.evaluate("document.activeElement?.getAttribute('type')"), 'search', 'the search box has the focus');
    const count = page.locator('.svclab-terminal-search-count');
    const countIs = async (re: RegExp) => {
      for (let i = 0; i < 50; i++) {
        const text = (await count.textContent())?.trim() ?? '';
        if (re.test(text)) return text;
        await page.waitForTimeout(100);
      }
      assert.fail(`the match count never read ${re}: "${await count.textContent()}"`);
    };
    await box.fill('needle-42');
    const first = await countIs(/^[1-3]\/3$/);
    await box.press('Enter');
    const second = await countIs(/^[1-3]\/3$/);
    assert.notEqual(second, first, 'Enter moves to another match');
    await box.fill('no-such-text-anywhere');
    await countIs(/^no match$/);
    await box.press('Escape');
    await box.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate("document.activeElement?.classList.contains('xterm-helper-textarea')"), true, 'the terminal has the focus again');
  });

  test('a reload comes back to the same shell with its screen', async () => {
    await page.keyboard.type('echo "shell-pid=$$"\n');
    const before = await waitForScreen(page, /shell-pid=\d+/, 'the pid');
    const pid = /shell-pid=(\d+)/.exec(before)![1];
    await page.reload();
    const restored = await waitForScreen(page, /ran-from-the-lesson-42/, 'the screen restored from the replay buffer');
    assert.match(restored, new RegExp(`shell-pid=${pid}`));
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('echo "again=$$"\n');
    const again = await waitForScreen(page, /again=\d+/, 'the pid again');
    assert.equal(/again=(\d+)/.exec(again)![1], pid, 'the same shell process');
    await screenshot(page, 'lesson-intro-after-reload');
  });

  test('the page switches to Chinese and keeps the terminal', async () => {
    await page.locator('.VPNavBarTranslations button').hover();
    await page.locator('.VPNavBarTranslations a', { hasText: '简体中文' }).click();
    await page.locator('h1', { hasText: 'Service 是什么' }).waitFor();
    assert.match(page.url(), /\/zh\/lessons\/intro$/, 'the same lesson, in Chinese');
    await page.locator('.svclab-terminal-help', { hasText: '终端' }).waitFor();
    await waitForScreen(page, /again=\d+/, 'the same screen in the Chinese page');
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await screenshot(page, 'lesson-intro-zh');
  });

  test('Chinese typed through an input method reaches the shell', async () => {
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('echo ime-');
    // What an IME does: a composition (pinyin shown while choosing), then the chosen characters.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Input.imeSetComposition', { text: 'fu', selectionStart: 2, selectionEnd: 2 });
    await cdp.send('Input.imeSetComposition', { text: 'fuwu', selectionStart: 4, selectionEnd: 4 });
    await cdp.send('Input.insertText', { text: '服务' });
    await cdp.detach();
    await page.keyboard.type('-ok\n');
    const text = await waitForScreen(page, /^ime-服务-ok/m, 'the Chinese text echoed by the shell');
    assert.doesNotMatch(text, /fuwu/, 'the pinyin of the composition never reaches the shell');
  });

  test('and back to English, still with the same terminal', async () => {
    await page.locator('.VPNavBarTranslations button').hover();
    await page.locator('.VPNavBarTranslations a', { hasText: 'English' }).click();
    await page.waitForURL(/\/lessons\/intro$/);
    assert.doesNotMatch(page.url(), /\/zh\//);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await waitForScreen(page, /^ime-服务-ok/m, 'the same screen in the English page');
  });

  test('node-shell opens a root shell on a node, where iptables-save shows svclab\'s kube-proxy chains', async () => {
    await page.locator('.svclab-terminal .xterm').click();
    // The short name: the part after the cluster's name.
    await page.keyboard.type('node-shell worker2\n');
    await waitForScreen(page, new RegExp(`root shell on node ${TEST_CLUSTER}-worker2`), 'the node shell', 90_000);
    await page.keyboard.type("echo svc-chains=$(iptables-save -t nat | grep -c '^:KUBE-SVC-')\n");
    const text = await waitForScreen(page, /svc-chains=[1-9]\d*/, 'the KUBE-SVC chains counted on the node');
    assert.match(text, new RegExp(`root@${TEST_CLUSTER}-worker2`), 'the prompt names the node');
    await exitNodeShell();
  });

  test('the shell follows the terminal\'s size', async () => {
    await page.locator('.svclab-terminal .xterm').click();
    // Each question has its own marker, so that an earlier answer on the screen is never read.
    let asked = 0;
    const cols = async () => {
      const n = ++asked;
      await page.keyboard.type(`echo "size${n}=$(stty size)"\n`);
      const text = await waitForScreen(page, new RegExp(`size${n}=\\d+ \\d+`), 'stty size');
      return Number(new RegExp(`size${n}=(\\d+) (\\d+)`).exec(text)![2]);
    };
    const wide = await cols();
    await page.setViewportSize({ width: 480, height: 900 });
    // The page refits, then the runner resizes the pty: on a loaded machine that can take a moment.
    let narrow = await cols();
    for (let i = 0; i < 10 && narrow >= wide - 10; i++) {
      await page.waitForTimeout(500);
      narrow = await cols();
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    assert.ok(wide > 40 && narrow < wide - 10, `columns follow the page: ${wide} wide, ${narrow} after narrowing the window`);
  });

  test('a flood of output does not freeze the page', async () => {
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('yes svclab-flood-line | head -n 300000; echo flood-$((6*7))-done\n');
    const deadline = Date.now() + 90_000;
    let slowest = 0;
    let text = '';
    while (Date.now() < deadline) {
      const t0 = Date.now();
      await page.evaluate('document.title');
      slowest = Math.max(slowest, Date.now() - t0);
      text = await screenText(page).catch(() => '');
      if (/flood-42-done/.test(text)) break;
      await page.waitForTimeout(250);
    }
    assert.match(text, /flood-42-done/, 'the command after the flood ran and its output arrived');
    assert.ok(slowest < 3000, `the page answered within ${slowest} ms during the flood`);
  });

  test('without a valid token the page says so and gets no shell', async () => {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    await p.goto(`${runner.url}lessons/intro?token=forged`);
    await p.locator('.svclab-terminal-banner').filter({ hasText: /access token/ }).waitFor({ timeout: 15_000 });
    await p.waitForTimeout(2000);
    assert.equal((await p.locator('.svclab-terminal .xterm-rows').innerText()).trim(), '');
    await p.locator('.svclab-terminal').scrollIntoViewIfNeeded();
    await screenshot(p, 'lesson-intro-bad-token');
    await ctx.close();
  });

  test('without a grading engine the task panel says so, and the terminal still works', async () => {
    const plain = await startRunner({ cluster: TEST_CLUSTER, port: 0, host: '127.0.0.1', siteDir, docker: dockerClient(), dataDir: await mkdtemp(join(tmpdir(), 'svclab-e2e-nolabs-')), log: () => {} });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await ctx.newPage();
      await p.goto(`${plain.url}lessons/clusterip?token=${plain.token}`);
      await p.locator('.lab-tasks .lt-note', { hasText: 'Task checking is not available on this server' }).waitFor({ timeout: 15_000 });
      assert.equal(await p.locator('.lab-tasks .lt-error').count(), 0, 'no error, just the note');
      await waitForScreen(p, /svclab:\S*[#$]/, 'the shell prompt on the page without tasks');
      await screenshot(p, 'lesson-clusterip-no-grading');
    } finally {
      await ctx.close();
      await plain.close();
    }
  });
});
