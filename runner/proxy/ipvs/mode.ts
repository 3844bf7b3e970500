// kube-proxy's IPVS mode behind the mode seam (runner/proxy/mode.ts): its proxier, its
// cleanup (upstream CleanupLeftovers) and its render.
import { renderIpvsSnapshot } from '../../core/proxy/ipvs/snapshot.ts';
import { DEFAULT_IPVS_SETTINGS } from '../../core/proxy/ipvs/options.ts';
import { UserError } from '../../errors.ts';
import type { ModeImplementation } from '../mode.ts';

export const ipvsMode: ModeImplementation = {
  async create() {
    throw new UserError('--proxy-mode=ipvs: only `svclab proxy render` supports the IPVS mode in this build; keeping the current mode');
  },
  async cleanup() {
    return [];
  },
  render(objects, settings, log) {
    return renderIpvsSnapshot(objects, settings, settings.ipvs ?? DEFAULT_IPVS_SETTINGS, log).text;
  },
};
