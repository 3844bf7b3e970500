// Removing what a proxy mode left on a node: `kube-proxy --cleanup` (every mode), and at
// start the leftovers of the other modes, so that switching modes leaves no stale rule.
// Upstream's platformCleanup does this for nftables against iptables/IPVS; svclab has four
// modes and does it for each, touching a mode's shared chains only where it left traces.
import { isServiceChainName } from '../core/proxy/chains.ts';
import { planIptablesCleanup } from '../core/proxy/cleanup.ts';
import { parseSaveTables } from '../core/proxy/jump-rules.ts';
import type { Exec } from './exec.ts';
import { detectBackend, newIptables, type Backend } from './iptables.ts';
import { PROXY_MODES, type ProxyMode } from './mode.ts';
import { modeImplementation } from './modes.ts';

/** Upstream iptables.CleanupLeftovers (IPv4). Returns a line per rule or chain removed. */
export async function cleanupIptablesMode(exec: Exec, backend?: Backend): Promise<string[]> {
  const ipt = newIptables(exec, backend ?? (await detectBackend(exec)));
  const plan = planIptablesCleanup(parseSaveTables(await ipt.save()));
  if (plan.text) await ipt.restoreAll(plan.text);
  return plan.removed;
}

async function cleanupMode(mode: ProxyMode, exec: Exec, backend?: Backend): Promise<string[]> {
  if (mode === 'iptables') return cleanupIptablesMode(exec, backend);
  return (await modeImplementation(mode)).cleanup(exec);
}

/** Whether iptables mode left per-service chains in the nat table. */
async function hasIptablesModeChains(exec: Exec, backend: Backend): Promise<boolean> {
  const ipt = newIptables(exec, backend);
  const nat = parseSaveTables(await ipt.save('nat')).get('nat');
  return [...(nat?.chains ?? [])].some(isServiceChainName);
}

/** Whether IPVS mode left its dummy interface. */
async function hasIpvsModeInterface(exec: Exec): Promise<boolean> {
  const r = await exec('ip', ['link', 'show', 'kube-ipvs0'], { allowFailure: true }).catch(() => null);
  return r?.code === 0;
}

/**
 * Before a proxy starts in `mode`: removes the other modes' leftovers. nftables and
 * userspace own nothing the others use, so they are always cleaned; iptables and IPVS
 * share KUBE-SERVICES, KUBE-POSTROUTING and KUBE-MARK-MASQ, so each is cleaned only when
 * its own traces (per-service chains; kube-ipvs0) show it ran here. A restart in the same
 * mode therefore keeps its rules in place.
 */
export async function cleanupOtherModes(mode: ProxyMode, exec: Exec, log: (line: string) => void, knownBackend?: Backend): Promise<void> {
  // Picked once: the node's iptables backend does not change between the checks.
  let backend = knownBackend;
  for (const other of PROXY_MODES) {
    if (other === mode) continue;
    try {
      if (other === 'iptables' && !(await hasIptablesModeChains(exec, (backend ??= await detectBackend(exec))))) continue;
      if (other === 'ipvs' && !(await hasIpvsModeInterface(exec))) continue;
      const removed = await cleanupMode(other, exec, backend);
      if (removed.length) log(`removed ${removed.length} leftovers of ${other} mode: ${removed.slice(0, 5).join(', ')}${removed.length > 5 ? ', …' : ''}`);
    } catch (err) {
      log(`could not clean up ${other} mode's leftovers: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}

/** `kube-proxy --cleanup`: every mode's leftovers; the lines removed, and the errors. */
export async function cleanupAllModes(exec: Exec): Promise<{ removed: string[]; errors: string[] }> {
  const removed: string[] = [];
  const errors: string[] = [];
  for (const mode of PROXY_MODES) {
    try {
      removed.push(...(await cleanupMode(mode, exec)).map((l) => `${mode}: ${l}`));
    } catch (err) {
      errors.push(`${mode}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { removed, errors };
}
