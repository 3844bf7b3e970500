// The proxy modes besides iptables, loaded on demand: each lives in its own folder and
// exports a ModeImplementation (its proxier and its cleanup).
import { UserError } from '../errors.ts';
import type { ModeImplementation, ProxyMode } from './mode.ts';

const implementations: Partial<Record<Exclude<ProxyMode, 'iptables'>, () => Promise<ModeImplementation>>> = {
  nftables: () => import('./nftables/mode.ts').then((m) => m.nftablesMode),
  ipvs: () => import('./ipvs/mode.ts').then((m) => m.ipvsMode),
  userspace: () => import('./userspace/mode.ts').then((m) => m.userspaceMode),
};

export async function modeImplementation(mode: Exclude<ProxyMode, 'iptables'>): Promise<ModeImplementation> {
  const load = implementations[mode];
  if (!load) throw new UserError(`--proxy-mode=${mode} is not available in this build of svclab`);
  return load();
}
