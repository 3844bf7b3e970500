// A second real Docker engine on this machine, beside the default one, for tests that
// place learner clusters on several engines. Needs root and Debian's dockerd.
//
// What keeps the two engines apart (see docs/classroom.md for what was tried here):
// - its own socket, --data-root, --exec-root (so its own managed containerd), --pidfile
//   and trust key (else both report the same engine ID);
// - its own default bridge, svclab-d2, made here: `--bridge=none` would make dockerd
//   delete the first engine's docker0 at start (libnetwork removeDefaultBridgeInterface);
// - a default address pool no other network uses (10.210.0.0/16 in /20s);
// - --iptables=false: with iptables on, dockerd deletes and recreates the DOCKER and
//   DOCKER-ISOLATION chains at start (bridge driver removeIPChains, from moby's code), wiping
//   the first engine's rules. Without them, br_netfilter sends bridged traffic between two
//   containers of one of its networks through FORWARD, whose policy is DROP here, so the
//   packets are dropped: a chain of our own, jumped to first from FORWARD, accepts
//   traffic within each of its bridges (what Docker's own ICC rule does), kept in step
//   with its networks as they are made and removed.
// The engine keeps the first engine's default runtime (the runc-bounded wrapper from
// /etc/docker/daemon.json: this machine cannot grant CAP_SYS_RESOURCE, and kind needs it).
// stop() removes its containers and networks, stops it, and removes its data-root,
// exec-root, socket, bridge and firewall rules; the first engine is never touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { commandExists, run } from '../../runner/exec.ts';

export const SECOND_DOCKER_SOCKET = '/run/svclab-docker2.sock';
export const SECOND_DOCKER_HOST = `unix://${SECOND_DOCKER_SOCKET}`;
const DATA_ROOT = '/var/lib/svclab-docker2';
const EXEC_ROOT = '/run/svclab-docker2';
const PIDFILE = '/run/svclab-docker2.pid';
const BRIDGE = 'svclab-d2';
const BRIDGE_ADDRESS = '10.211.0.1/24';
const ADDRESS_POOL = { base: '10.210.0.0/16', size: 20 };
const CHAIN = 'SVCLAB-DOCKER2';
const JUMP = ['FORWARD', '-m', 'comment', '--comment', 'svclab second Docker engine', '-j', CHAIN];

export interface SecondDocker {
  /** DOCKER_HOST of the second engine. */
  host: string;
  docker: Docker;
  /** The last lines of its log, for a failing test's message. */
  logTail(lines?: number): Promise<string>;
  /** Removes its containers and networks, stops it and removes everything it left on the host. */
  stop(): Promise<void>;
}

/** Why a second engine cannot be started here, or undefined if it can. */
export async function secondDockerUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'a second Docker engine needs root';
  if (!(await commandExists('dockerd'))) return 'no dockerd on PATH';
  if (!(await commandExists('iptables'))) return 'no iptables on PATH';
  return undefined;
}

const ipt = (args: string[]) => run('iptables', ['-w', ...args], { allowFailure: true });

/** The bridge a Docker network of the bridge driver uses on the host. */
function bridgeOf(net: Docker.NetworkInspectInfo): string | undefined {
  if (net.Driver !== 'bridge') return undefined;
  return net.Options?.['com.docker.network.bridge.name'] ?? `br-${net.Id.slice(0, 12)}`;
}

/** Makes the FORWARD chain accept traffic within each of the engine's bridges, and nothing else. */
async function syncForwardRules(docker: Docker): Promise<void> {
  const bridges = new Set([BRIDGE]);
  for (const n of await docker.listNetworks()) {
    const b = bridgeOf(n);
    if (b) bridges.add(b);
  }
  const listed = (await ipt(['-S', CHAIN])).stdout.split('\n');
  const have = new Set(listed.map((l) => /^-A \S+ -i (\S+) -o \1 -j ACCEPT$/.exec(l)?.[1]).filter((b): b is string => !!b));
  for (const b of bridges) if (!have.has(b)) await ipt(['-A', CHAIN, '-i', b, '-o', b, '-j', 'ACCEPT']);
  for (const b of have) if (!bridges.has(b)) await ipt(['-D', CHAIN, '-i', b, '-o', b, '-j', 'ACCEPT']);
}

async function removeForwardRules(): Promise<void> {
  while ((await ipt(['-C', ...JUMP])).code === 0) await ipt(['-D', ...JUMP]);
  await ipt(['-F', CHAIN]);
  await ipt(['-X', CHAIN]);
}

async function pidAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A live process started for the second engine (its command line names our folders or config). */
async function ours(pid: number | undefined): Promise<boolean> {
  if (pid === undefined || !(await pidAlive(pid))) return false;
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('svclab-docker2');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (!(await pidAlive(pid))) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return !(await pidAlive(pid));
}

async function readPid(path: string): Promise<number | undefined> {
  const n = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Unmounts whatever is still mounted under the engine's folders (netns files, overlay layers), deepest first. */
async function unmountUnder(roots: string[]): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => roots.some((r) => p === r || p.startsWith(`${r}/`)))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await run('umount', ['-l', p], { allowFailure: true });
}

/** Removes every container and network of the engine, then stops it (dockerd stops its containerd). */
async function shutdown(docker: Docker, pid: number | undefined): Promise<void> {
  try {
    for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true, v: true });
    await docker.pruneNetworks();
  } catch {
    // the engine no longer answers: what it left is removed from the host below
  }
  if (pid !== undefined && (await ours(pid))) {
    signal(pid, 'SIGTERM');
    if (!(await waitGone(pid, 30_000))) signal(pid, 'SIGKILL');
    await waitGone(pid, 5_000);
  }
  const containerdPid = await readPid(join(EXEC_ROOT, 'containerd', 'containerd.pid'));
  if (containerdPid !== undefined && (await ours(containerdPid))) {
    signal(containerdPid, 'SIGTERM');
    if (!(await waitGone(containerdPid, 10_000))) signal(containerdPid, 'SIGKILL');
  }
}

/** Removes what an engine of ours left on the host: folders, socket, its bridges, its firewall rules. */
async function cleanHost(bridges: Iterable<string>): Promise<void> {
  await unmountUnder([DATA_ROOT, EXEC_ROOT]);
  for (const p of [DATA_ROOT, EXEC_ROOT, SECOND_DOCKER_SOCKET, PIDFILE]) await rm(p, { recursive: true, force: true });
  await removeForwardRules();
  for (const b of new Set([BRIDGE, ...bridges])) {
    if (existsSync(`/sys/class/net/${b}`)) await run('ip', ['link', 'del', b], { allowFailure: true });
  }
}

/** The runtimes of the first engine's /etc/docker/daemon.json (the runc-bounded wrapper here), if any. */
async function firstEngineRuntimes(): Promise<Record<string, unknown>> {
  try {
    const cfg = JSON.parse(await readFile('/etc/docker/daemon.json', 'utf8')) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(cfg).filter(([k]) => k === 'runtimes' || k === 'default-runtime'));
  } catch {
    return {};
  }
}

/** Bridges of the engine's own networks (br-… names from the kernel's view: every bridge whose address is in the pool). */
async function poolBridges(): Promise<string[]> {
  const r = await run('ip', ['-o', '-4', 'addr', 'show', 'type', 'bridge'], { allowFailure: true });
  return r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+(\S+)\s+inet (10\.210\.\d+\.\d+)\//.exec(l)?.[1])
    .filter((b): b is string => !!b);
}

/**
 * Starts the second engine and waits until it answers. A previous one left running by a
 * test process that died is stopped and cleaned up first (same fixed paths).
 */
export async function startSecondDocker(): Promise<SecondDocker> {
  const why = await secondDockerUnavailable();
  if (why) throw new Error(why);
  const docker = new Docker({ socketPath: SECOND_DOCKER_SOCKET });
  const stale = await readPid(PIDFILE);
  if (stale !== undefined || existsSync(DATA_ROOT) || existsSync(EXEC_ROOT)) {
    await shutdown(docker, stale);
    await cleanHost(await poolBridges());
  }

  const dir = await mkdtemp(join(tmpdir(), 'svclab-docker2-'));
  const configFile = join(dir, 'daemon.json');
  const logFile = join(dir, 'dockerd.log');
  await writeFile(
    configFile,
    JSON.stringify(
      {
        hosts: [SECOND_DOCKER_HOST],
        'data-root': DATA_ROOT,
        'exec-root': EXEC_ROOT,
        pidfile: PIDFILE,
        'deprecated-key-path': join(DATA_ROOT, 'key.json'),
        bridge: BRIDGE,
        iptables: false,
        'ip-masq': false,
        'default-address-pools': [ADDRESS_POOL],
        labels: ['svclab.io/engine=second-docker'],
        ...(await firstEngineRuntimes()),
      },
      null,
      2,
    ),
  );
  await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  await run('ip', ['addr', 'add', BRIDGE_ADDRESS, 'dev', BRIDGE]);
  await run('ip', ['link', 'set', BRIDGE, 'up']);
  await ipt(['-N', CHAIN]);
  await ipt(['-I', ...JUMP.slice(0, 1), '1', ...JUMP.slice(1)]);

  const logFd = openSync(logFile, 'a');
  const child: ChildProcess = spawn('dockerd', ['--config-file', configFile], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = `exited (${signal ?? code})`));
  const logTail = async (lines = 15) => (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-lines).join('\n');

  const bridgesSeen = new Set<string>();
  let events: NodeJS.ReadableStream | undefined;
  const stop = async () => {
    (events as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    for (const n of await docker.listNetworks().catch(() => [])) {
      const b = bridgeOf(n);
      if (b) bridgesSeen.add(b);
    }
    await shutdown(docker, child.pid);
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit').catch(() => {});
    await cleanHost([...bridgesSeen, ...(await poolBridges())]);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const end = Date.now() + 60_000; ; ) {
      if (exited) throw new Error(`the second dockerd ${exited}:\n${await logTail()}`);
      if (await docker.ping().then(() => true, () => false)) break;
      if (Date.now() > end) throw new Error(`the second dockerd did not answer on ${SECOND_DOCKER_HOST} within 60 s:\n${await logTail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // Accept traffic within each new network's bridge as soon as it exists (kind makes its network, then its nodes).
    events = (await docker.getEvents({ filters: { type: ['network'], event: ['create', 'destroy'] } })) as NodeJS.ReadableStream;
    let syncing = Promise.resolve();
    events.on('data', () => (syncing = syncing.then(() => syncForwardRules(docker)).catch(() => {})));
    events.on('error', () => {});
    await syncForwardRules(docker);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: SECOND_DOCKER_HOST, docker, logTail, stop };
}
