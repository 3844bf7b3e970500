// Network namespaces for tests: create them, wire them with veth pairs, run commands and
// long-running processes inside, and tear everything down (also after a failed test).
// Needs root. Every name is unique per process, so test files can run in parallel.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command to completion (no shell). Rejects on a non-zero exit unless `allowFail`. */
export async function run(cmd: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => {});
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  const result = { stdout, stderr, code: code ?? -1 };
  if (result.code !== 0 && !opts.allowFail) throw new Error(`${cmd.join(' ')} exited ${result.code}: ${stderr.trim() || stdout.trim()}`);
  return result;
}

let counter = 0;

export class Netns {
  constructor(
    readonly name: string,
    private readonly lab: NetnsLab,
  ) {}

  /** The command prefix that runs something inside this namespace. */
  get prefix(): string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  exec(cmd: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
    return run([...this.prefix, ...cmd], opts);
  }

  /** Starts a long-running process in the namespace; it is killed when the lab is disposed. */
  spawn(cmd: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = spawn(this.prefix[0]!, [...this.prefix.slice(1), ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.lab.track(child);
    return child;
  }

  /** Runs a Node.js script (ESM source text) in the namespace and returns its stdout. */
  async node(script: string, args: string[] = [], timeoutMs = 60_000): Promise<string> {
    const r = await this.exec([process.execPath, '--input-type=module', '-e', script, ...args], { timeoutMs });
    return r.stdout;
  }
}

/**
 * Owns namespaces, links and processes made for one test; dispose() removes all of them.
 * Use it with try/finally (or t.after) so a failing test still cleans up.
 */
export class NetnsLab {
  private readonly namespaces: Netns[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly servers: Server[] = [];
  private readonly tmpDirs: string[] = [];
  readonly id: string;

  constructor(prefix = 'svl') {
    this.id = `${prefix}${process.pid % 100000}x${counter++}`;
  }

  track(child: ChildProcess): void {
    this.children.push(child);
  }

  async netns(suffix: string): Promise<Netns> {
    const name = `${this.id}-${suffix}`;
    await run(['ip', 'netns', 'add', name]);
    const ns = new Netns(name, this);
    this.namespaces.push(ns);
    await ns.exec(['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * Connects two namespaces with a veth pair and gives each end an address ("10.0.0.1/24").
   * Interface names are short (15 characters at most), so pass short ones.
   */
  async link(a: Netns, aIf: string, aAddr: string, b: Netns, bIf: string, bAddr: string): Promise<void> {
    const tmpA = `v${counter++}a${process.pid % 10000}`;
    const tmpB = `v${counter}b${process.pid % 10000}`;
    await run(['ip', 'link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
    await run(['ip', 'link', 'set', tmpA, 'netns', a.name]);
    await run(['ip', 'link', 'set', tmpB, 'netns', b.name]);
    for (const [ns, tmp, name, addr] of [[a, tmpA, aIf, aAddr], [b, tmpB, bIf, bAddr]] as const) {
      await ns.exec(['ip', 'link', 'set', tmp, 'name', name]);
      await ns.exec(['ip', 'addr', 'add', addr, 'dev', name]);
      await ns.exec(['ip', 'link', 'set', name, 'up']);
    }
  }

  /**
   * Makes 127.0.0.1:port inside `ns` reach 127.0.0.1:port on the host (where a local
   * API server listens), through a Unix socket, which namespaces do not separate.
   */
  async forwardLoopbackPort(ns: Netns, port: number): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'svclab-fwd-'));
    this.tmpDirs.push(dir);
    const sock = join(dir, 's');
    const server = createServer((conn) => {
      const up = createConnection({ host: '127.0.0.1', port });
      conn.pipe(up).pipe(conn);
      conn.on('error', () => up.destroy());
      up.on('error', () => conn.destroy());
    });
    this.servers.push(server);
    server.listen(sock);
    await once(server, 'listening');
    const script = `
      import net from 'node:net';
      const s = net.createServer((c) => { const u = net.createConnection(${JSON.stringify(sock)}); c.pipe(u).pipe(c);
        c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); });
      s.listen(${port}, '127.0.0.1', () => console.log('ready'));`;
    const child = ns.spawn([process.execPath, '--input-type=module', '-e', script]);
    await waitForLine(child, /ready/, 10_000);
  }

  async dispose(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await Promise.race([once(c, 'exit'), new Promise((r) => setTimeout(r, 2000))]);
      }
    }
    for (const s of this.servers) s.close();
    for (const ns of this.namespaces.reverse()) {
      // Processes started with `ip netns exec` outside our tracking would keep it busy; kill them.
      const pids = await run(['ip', 'netns', 'pids', ns.name], { allowFail: true });
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await run(['ip', 'netns', 'del', ns.name], { allowFail: true });
    }
    for (const d of this.tmpDirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Resolves with the first stdout line matching `re`; rejects on exit or timeout. */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stderr: ${err.slice(-500)}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => re.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before printing ${re}; stderr: ${err.slice(-500)}`));
    });
  });
}

/** True when this process can create network namespaces (root with CAP_NET_ADMIN and `ip`). */
export async function canUseNetns(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const name = `svlprobe${process.pid}`;
  const r = await run(['ip', 'netns', 'add', name], { allowFail: true }).catch(() => ({ code: 1 }));
  if (r.code !== 0) return false;
  await run(['ip', 'netns', 'del', name], { allowFail: true });
  return true;
}

/** What kubelet leaves on a node before kube-proxy starts (its canaries, the backend hint, KUBE-FIREWALL). */
export const KUBELET_RULES = `*mangle
:KUBE-IPTABLES-HINT - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
COMMIT
*nat
:KUBE-KUBELET-CANARY - [0:0]
COMMIT
*filter
:KUBE-FIREWALL - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
-A INPUT -j KUBE-FIREWALL
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
COMMIT
`;
