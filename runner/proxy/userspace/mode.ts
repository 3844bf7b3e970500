// The userspace proxy mode for the mode registry (runner/proxy/modes.ts). Its sockets live
// in this process's network namespace, so it must run in the node's namespace itself
// (`svclab proxy run --netns` is refused for it, see flags.ts).
import { listenProblem } from '../../core/proxy/userspace/addresses.ts';
import { renderUserspaceSnapshot } from '../../core/proxy/userspace/snapshot.ts';
import { UserError } from '../../errors.ts';
import { detectBackend, newIptables } from '../iptables.ts';
import type { ModeImplementation } from '../mode.ts';
import { cleanupUserspace } from './cleanup.ts';
import { DEFAULT_USERSPACE_OPTIONS } from './flags.ts';
import { UserspaceProxier } from './proxier.ts';

export const userspaceMode: ModeImplementation = {
  async create(deps) {
    const problem = listenProblem(deps.settings.bindAddress);
    if (problem) throw new UserError(problem);
    const iptables = newIptables(deps.exec, await detectBackend(deps.exec));
    const proxier = new UserspaceProxier({ ...deps, iptables, userspace: deps.userspace ?? DEFAULT_USERSPACE_OPTIONS });
    await proxier.flushPortals();
    return proxier;
  },
  async cleanup(exec) {
    return cleanupUserspace(newIptables(exec, await detectBackend(exec)));
  },
  render(objects, settings, log) {
    return renderUserspaceSnapshot(objects, settings, log).text;
  },
};
