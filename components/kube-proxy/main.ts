// svclab's kube-proxy (DaemonSet, hostNetwork): upstream's flags, svclab's iptables proxier.
import { Command } from 'commander';
import { addRunFlags, startFromFlags, type RunFlagValues } from '../../runner/cli/commands/proxy.ts';
import { oneLine } from '../../runner/errors.ts';

const program = addRunFlags(new Command('kube-proxy')).allowExcessArguments(false);
program.parse(process.argv);
try {
  const running = await startFromFlags(program.opts<RunFlagValues>());
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void running.stop().then(() => process.exit(0)));
} catch (err) {
  console.error(`kube-proxy: ${oneLine(err)}`);
  process.exit(1);
}
