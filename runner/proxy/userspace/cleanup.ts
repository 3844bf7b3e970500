// Upstream `kube-proxy --cleanup` for the userspace mode (CleanupLeftovers): every rule that
// jumps to the mode's chains, then the chains themselves, in one iptables-restore.
import { planUserspaceCleanup } from '../../core/proxy/userspace/jumps.ts';
import type { Iptables } from '../iptables.ts';

/** Returns a line per rule and chain removed ("nat: chain KUBE-PORTALS-HOST"); none when nothing was left. */
export async function cleanupUserspace(iptables: Iptables): Promise<string[]> {
  const plan = planUserspaceCleanup(await iptables.save());
  if (plan.text) await iptables.restoreAll(plan.text);
  return plan.removed;
}
