import { run } from '../exec.ts';

export type IptablesMode = 'nft' | 'legacy';

/**
 * Picks the iptables backend the node already uses, as upstream's iptables-wrapper
 * does: the one whose save output holds more rules (kube-proxy and kubelet chains
 * show which one the node's components write), nft when both are empty.
 */
export async function detectIptablesMode(): Promise<IptablesMode> {
  const count = async (cmd: string) => {
    const r = await run(cmd, [], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
    return r?.code === 0 ? r.stdout.split('\n').filter((l) => l.startsWith('-')).length : -1;
  };
  const [legacy, nft] = await Promise.all([count('iptables-legacy-save'), count('iptables-nft-save')]);
  return legacy > nft ? 'legacy' : 'nft';
}

export function iptablesCommand(mode: IptablesMode, tool: 'iptables' | 'iptables-save' | 'iptables-restore'): string {
  return tool === 'iptables' ? `iptables-${mode}` : tool.replace('iptables', `iptables-${mode}`);
}
