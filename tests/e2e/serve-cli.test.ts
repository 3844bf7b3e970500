// `svclab up` and `svclab serve` run as the README runs them, as child processes: the link
// they print opens the lessons with the learner's token in Debian's chromium and the lesson's
// terminal has a shell; by default they listen on 127.0.0.1 only, and `--host 0.0.0.0`
// warns that the shells are exposed. The server's own state (database, tokens,
// running.json) goes to a scratch state directory that shares svclab's cluster records.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { stateDir } from '../../runner/cluster/state.ts';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { repoRoot } from '../support/cli.ts';
import { TEST_CLUSTER, testCluster } from '../support/test-cluster.ts';

const LINK = /svclab is serving the lessons at (http:\/\/\S+\/\?token=(\S+))/;

interface Server {
  child: ChildProcess;
  link: string;
  token: string;
  stdout: string;
  stderr: string;
  /** Ctrl-C, as the printed text says; resolves with the exit code. */
  stop(): Promise<number | null>;
}

let stateRoot = '';

/** Starts `svclab <args>` and waits for the link it prints. */
function serve(args: string[], ms = 300_000): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${repoRoot}/bin/svclab.js`, ...args], { cwd: repoRoot, env: { ...process.env, SVCLAB_STATE_DIR: stateRoot }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const s: Server = {
      child,
      link: '',
      token: '',
      stdout: '',
      stderr: '',
      stop: () => {
        if (child.exitCode === null) child.kill('SIGINT');
        return exited;
      },
    };
    servers.push(s);
    const timer = setTimeout(() => reject(new Error(`svclab ${args.join(' ')} printed no link in ${ms} ms:\n${s.stdout}\n${s.stderr}`)), ms);
    child.stderr!.on('data', (c: Buffer) => (s.stderr += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      s.stdout += c.toString();
      const m = LINK.exec(s.stdout);
      if (m && !s.link) {
        s.link = m[1]!;
        s.token = m[2]!;
        clearTimeout(timer);
        resolve(s);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      if (!s.link) reject(new Error(`svclab ${args.join(' ')} exited with ${code} before printing a link:\n${s.stdout}\n${s.stderr}`));
    });
  });
}
const servers: Server[] = [];

/** An address of this machine that is not loopback (Docker's bridges at least). */
function otherAddress(): string {
  const a = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal);
  assert.ok(a, 'this machine has a non-loopback IPv4 address');
  return a.address;
}

async function reachable(url: string): Promise<number | string> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(5000) })).status;
  } catch (err) {
    return ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? String(err);
  }
}

describe('svclab up and svclab serve, as the README runs them', { concurrency: false }, () => {
  let browser: Browser;

  before(async () => {
    await testCluster();
    // svclab's state, but a scratch "server" directory: the test's learner, tokens and
    // running.json must not replace the ones of a `svclab serve` of the person running it.
    stateRoot = await mkdtemp(join(tmpdir(), 'svclab-e2e-state-'));
    for (const d of ['locks', 'answers']) await mkdir(stateDir(d), { recursive: true });
    for (const name of await readdir(stateDir())) if (name !== 'server') await symlink(stateDir(name), join(stateRoot, name));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    for (const s of servers) await s.stop();
    if (stateRoot) await rm(stateRoot, { recursive: true, force: true });
  });

  test('svclab up prints a link that opens the lessons with a terminal, listening on 127.0.0.1 only', async () => {
    const s = await serve(['up', '--name', TEST_CLUSTER, '--port', '0']);
    assert.match(s.stdout, new RegExp(`Cluster "${TEST_CLUSTER}" is ready`), 'up brought up (here: checked) the cluster first');
    const url = new URL(s.link);
    assert.equal(url.hostname, '127.0.0.1');
    assert.doesNotMatch(s.stderr, /WARNING/);
    assert.match(String(await reachable(`http://${otherAddress()}:${url.port}/api/health`)), /ECONNREFUSED/, 'nothing listens on the other addresses');

    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(s.link);
    await page.locator('.VPNavBar a', { hasText: 'Lessons' }).first().click();
    await page.locator('h1', { hasText: 'What a Service is' }).waitFor();
    assert.doesNotMatch(page.url(), /token=/, 'the token leaves the address bar');
    const rows = page.locator('.svclab-terminal .xterm-rows');
    await rows.scrollIntoViewIfNeeded();
    await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('.svclab-terminal .xterm-rows')?.textContent ?? ''), 'svclab:\\S*[#$]', { timeout: 60_000 });
    await page.locator('.svclab-terminal .xterm').click();
    await page.keyboard.type('echo from-the-printed-link-$((6*7))\n');
    await page.waitForFunction(() => /from-the-printed-link-42/.test(document.querySelector('.svclab-terminal .xterm-rows')?.textContent ?? ''), undefined, { timeout: 30_000 });
    await screenshot(page, 'svclab-up-link');
    await page.context().close();
    assert.equal(await s.stop(), 0, 'Ctrl-C stops it cleanly');
  });

  test('svclab serve --host 0.0.0.0 warns and answers on the network, still with the token required', async () => {
    const s = await serve(['serve', '--cluster', TEST_CLUSTER, '--host', '0.0.0.0', '--port', '0']);
    assert.match(s.stderr, /^WARNING: listening on 0\.0\.0\.0: anyone who can reach this address and has the link below gets a shell in your lab cluster\.$/m);
    const url = new URL(s.link);
    const other = `http://${otherAddress()}:${url.port}`;
    assert.equal(await reachable(`${other}/api/health`), 200, 'the other addresses answer');
    assert.equal(await reachable(`${other}/api/session`), 401, 'without the token: nothing');
    const session = await fetch(`${other}/api/session`, { headers: { authorization: `Bearer ${s.token}` } });
    assert.equal(session.status, 200);
    assert.equal(((await session.json()) as { cluster: string }).cluster, TEST_CLUSTER);
    assert.equal(await s.stop(), 0);
  });
});
