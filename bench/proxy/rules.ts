// Counting what a proxy mode wrote on the node, from the tools' own output: rules of an
// iptables-save, rules and set/map elements of `nft -j list table`, and where a service's
// rule sits in a chain that the first packet of a connection walks rule by rule.

/** The `-A` lines of an iptables-save (any tables it holds). */
export function iptablesRuleCount(save: string): number {
  return save.split('\n').filter((l) => l.startsWith('-A ')).length;
}

/** Rules, and elements of every set and map, of `nft -j list table FAMILY NAME`. */
export function nftCounts(json: string): { rules: number; elements: number } {
  const doc = JSON.parse(json) as { nftables?: Record<string, { elem?: unknown[] }>[] };
  if (!Array.isArray(doc.nftables)) throw new Error('nft -j output has no "nftables" array');
  let rules = 0;
  let elements = 0;
  for (const item of doc.nftables) {
    if ('rule' in item) rules++;
    const set = item.set ?? item.map;
    if (set) elements += set.elem?.length ?? 0;
  }
  return { rules, elements };
}

/**
 * The 1-based position, among the rules of `chain` in an iptables-save, of the first rule
 * for destination ip:port (TCP), and how many rules the chain has; position null when none matches.
 */
export function chainPosition(save: string, chain: string, ip: string, port: number): { position: number | null; of: number } {
  const rules = save.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
  const i = rules.findIndex((l) => l.includes(` -d ${ip}/32 `) && new RegExp(` --dport ${port}( |$)`).test(l));
  return { position: i < 0 ? null : i + 1, of: rules.length };
}
