// Runs upstream kube-proxy (iptables mode) in a network namespace against a local API
// server and returns the iptables-restore input of its first full sync, taken from its
// own -v=9 log ("Restoring iptables").
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../../runner/kube/state-file.ts';
import { NetnsLab, type Netns } from '../../support/netns.ts';
import { upstreamBinary, type ControlPlane } from '../../support/control-plane.ts';

const APPLIED_KINDS = new Set(['Namespace', 'Service', 'EndpointSlice', 'Node']);

/** Replaces the API server's Services, EndpointSlices and Nodes with `objects` (default/kubernetes stays). */
export async function loadState(cp: ControlPlane, objects: KubeObject[]): Promise<void> {
  await cp.kubectl(['delete', 'services', '--all-namespaces', '--field-selector=metadata.name!=kubernetes', '--ignore-not-found', '--wait=false']);
  await cp.kubectl(['delete', 'endpointslices', '--all', '--all-namespaces', '--ignore-not-found', '--wait=false']);
  await cp.kubectl(['delete', 'nodes', '--all', '--ignore-not-found', '--wait=false']);
  const strip = (o: KubeObject) => {
    const { status: _status, ...rest } = o;
    return rest;
  };
  const items = objects.filter((o) => APPLIED_KINDS.has(o.kind) && !(o.kind === 'Service' && o.metadata.namespace === 'default' && o.metadata.name === 'kubernetes'));
  const namespaces = items.filter((o) => o.kind === 'Namespace');
  if (namespaces.length) await cp.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }));
  const rest = items.filter((o) => o.kind !== 'Namespace').map(strip);
  if (rest.length) await cp.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rest }));
  for (const o of items) {
    if (!o.status || o.kind === 'Namespace') continue;
    const ns = o.metadata.namespace ? ['-n', o.metadata.namespace] : [];
    await cp.kubectl(['patch', o.kind.toLowerCase(), o.metadata.name!, ...ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: o.status })]);
  }
}

/** What the API server now holds, as kube-proxy sees it. */
export async function readState(cp: ControlPlane): Promise<KubeObject[]> {
  const out = await cp.kubectl(['get', 'services,endpointslices,nodes', '--all-namespaces', '-o', 'json']);
  return (JSON.parse(out) as { items: KubeObject[] }).items;
}

/** Splits a flags file into upstream flags and this node's addresses (--node-ip, which upstream reads from its interfaces). */
export function splitFlags(flags: string): { upstream: string[]; addresses: string[] } {
  const upstream: string[] = [];
  const addresses: string[] = [];
  for (const f of flags.trim().split(/\s+/).filter(Boolean)) {
    const m = /^--node-ip=(.+)$/.exec(f);
    if (m) addresses.push(m[1]!);
    else upstream.push(f);
  }
  return { upstream, addresses };
}

export async function upstreamRestoreInput(cp: ControlPlane, flags: string[], addresses: string[], timeoutMs = 60_000): Promise<string> {
  const lab = new NetnsLab('kpu');
  try {
    const ns = await lab.netns('node');
    const peer = await lab.netns('peer');
    await lab.link(ns, 'eth0', '169.254.77.1/30', peer, 'eth0', '169.254.77.2/30');
    for (const a of addresses) await ns.exec(['ip', 'addr', 'add', a.includes(':') ? `${a}/64` : `${a}/24`, 'dev', 'eth0']);
    await lab.forwardLoopbackPort(ns, cp.port);
    const child = ns.spawn([
      upstreamBinary('kube-proxy'), `--kubeconfig=${cp.kubeconfig}`, '--proxy-mode=iptables', '--v=9',
      '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249',
      '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0', '--conntrack-tcp-timeout-close-wait=0',
      ...flags,
    ]);
    return await new Promise<string>((resolve, reject) => {
      let buf = '';
      let tail = '';
      const timer = setTimeout(() => reject(new Error(`upstream kube-proxy wrote no IPv4 rules within ${timeoutMs} ms; last log: ${tail.slice(-1500)}`)), timeoutMs);
      const onData = (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          tail = (tail + line.slice(0, 300) + '\n').slice(-3000);
          const m = /"Restoring iptables" ipFamily="IPv4" rules=("(?:[^"\\]|\\.)*")/.exec(line);
          if (m) {
            clearTimeout(timer);
            resolve(JSON.parse(m[1]!) as string);
          }
        }
      };
      child.stderr!.on('data', onData);
      child.stdout!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`upstream kube-proxy exited (${code}); last log: ${tail.slice(-1500)}`));
      });
    });
  } finally {
    await lab.dispose();
  }
}

let legacyDir: string | null = null;

/**
 * A directory whose iptables, iptables-save, iptables-restore (and ip6tables…) are the
 * legacy backend: upstream kube-proxy runs whatever `iptables` PATH finds (its image picks
 * the backend with a wrapper script), so this PATH entry makes it use iptables-legacy.
 */
export function legacyIptablesPath(): string {
  if (legacyDir) return legacyDir;
  const dir = mkdtempSync(join(tmpdir(), 'svclab-iptables-legacy-'));
  for (const fam of ['iptables', 'ip6tables']) for (const suffix of ['', '-save', '-restore']) symlinkSync('/usr/sbin/xtables-legacy-multi', join(dir, `${fam}${suffix}`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return (legacyDir = dir);
}

export interface UpstreamProxy {
  child: ChildProcess;
  /** Resolves with the first log line matching `re` logged from now on. */
  waitForLog(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** The last lines it logged. */
  tail(): string;
  stop(): Promise<void>;
}

/**
 * Starts upstream kube-proxy (iptables mode) in `ns` against the local API server
 * (reached through a forwarded loopback port), on the given iptables backend. Its
 * healthz and metrics listen on 127.0.0.1 inside the namespace.
 */
export async function startUpstreamProxy(lab: NetnsLab, ns: Netns, cp: ControlPlane, flags: string[], opts: { backend?: 'nft' | 'legacy'; verbosity?: number } = {}): Promise<UpstreamProxy> {
  await lab.forwardLoopbackPort(ns, cp.port);
  const env = { ...process.env };
  if (opts.backend === 'legacy') env.PATH = `${legacyIptablesPath()}:${env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
  const child = ns.spawn(
    [
      upstreamBinary('kube-proxy'), `--kubeconfig=${cp.kubeconfig}`, '--proxy-mode=iptables', `--v=${opts.verbosity ?? 2}`,
      '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249',
      '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0', '--conntrack-tcp-timeout-close-wait=0',
      ...flags,
    ],
    env,
  );
  let tail = '';
  let buf = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const onData = (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      tail = (tail + line.slice(0, 300) + '\n').slice(-3000);
      for (const w of [...waiters]) {
        const m = w.re.exec(line);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    tail: () => tail,
    waitForLog: (re, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`upstream kube-proxy logged nothing matching ${re} within ${timeoutMs} ms; last log: ${tail.slice(-1500)}`)), timeoutMs);
        const onExit = (code: number | null) => reject(new Error(`upstream kube-proxy exited (${code}); last log: ${tail.slice(-1500)}`));
        child.once('exit', onExit);
        waiters.push({
          re,
          resolve: (m) => {
            clearTimeout(timer);
            child.off('exit', onExit);
            resolve(m);
          },
        });
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
