import { Option, type Command } from 'commander';
import { renderSnapshot } from '../../core/proxy/snapshot.ts';
import { formatAnyTrace, traceFromSource, TRACE_MODES, type TraceMode } from '../../proxy/trace-source.ts';
import { UserError } from '../../errors.ts';
import { readStateFile } from '../../kube/state-file.ts';
import { addRuleFlags, parseBool, settingsFromFlags, type RuleFlagValues } from '../../proxy/flags.ts';
import { onceLogger } from '../../proxy/log.ts';
import { modeImplementation } from '../../proxy/modes.ts';
import { addIpvsRuleFlags, addIpvsRunFlags, ipvsSettingsFromFlags, ipvsSyncPeriods, type IpvsFlagValues } from '../../proxy/ipvs/flags.ts';
import { PROXY_MODES, type ProxyMode } from '../../proxy/mode.ts';
import { addUserspaceFlags, checkUserspaceRun, userspaceOptionsFromFlags, type UserspaceFlagValues } from '../../proxy/userspace/flags.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerProxy(program: Command): void {
  const proxy = program.command('proxy').description('svclab\'s kube-proxy (iptables, nftables, ipvs or userspace mode): render its rules, trace packets through them, or run it');

  addIpvsRuleFlags(addRuleFlags(
    proxy
      .command('render')
      .description('print the iptables-restore input of one full sync for a state file (a kubectl List of Services, EndpointSlices and Nodes)')
      .requiredOption('--state <file>', 'kubectl get -o yaml|json output: v1 Services, discovery.k8s.io/v1 EndpointSlices, v1 Nodes')
      .option('--node-ip <ip>', 'an address of this node (repeatable); --nodeport-addresses selects among them', collect, []),
  ))
    .addOption(new Option('--proxy-mode <mode>', 'which proxy mode\'s rules to print').choices([...PROXY_MODES]).default('iptables'))
    .addOption(new Option('--nfacct [bool]', 'whether the nfacct counters exist (the rules that count into them are emitted only then)').argParser(parseBool('nfacct')).default(true))
    .addOption(new Option('--random-fully [bool]', 'whether iptables supports MASQUERADE --random-fully (every iptables >= 1.6.2 does)').argParser(parseBool('random-fully')).default(true))
    .action(async (opts: RuleFlagValues & IpvsFlagValues & { state: string; proxyMode: string; nodeIp: string[]; nfacct: boolean; randomFully: boolean }) => {
      // render takes no duration flags (only --ipvs-scheduler of the --ipvs-* ones).
      const settings = settingsFromFlags(opts, { localAddresses: opts.nodeIp, nfacct: opts.nfacct, randomFully: opts.randomFully, ipvs: ipvsSettingsFromFlags(opts, () => null) });
      const objects = await readStateFile(opts.state);
      const log = onceLogger((line) => process.stderr.write(`svclab proxy render: ${line}\n`));
      if (objects.length === 0) throw new UserError(`state file ${opts.state} holds no objects: pass kubectl get services,endpointslices,nodes -A -o yaml output`);
      const mode = opts.proxyMode as ProxyMode;
      const text = mode === 'iptables' ? renderSnapshot(objects, settings, log).text : (await modeImplementation(mode)).render(objects, settings, log);
      process.stdout.write(text);
    });

  proxy
    .command('trace')
    .description('follow a packet through a node\'s iptables or nftables rules like netfilter: every jump, each random branch with its probability, map lookups, DNAT, filter verdict, masquerade')
    .option('--rules <file>', 'an iptables-save dump, `nft list ruleset` / `nft list table` output or nft -f input (or `svclab proxy render` output)')
    .option('--node <name>', 'read the live rules of this cluster node (docker exec <node> nft list table ip kube-proxy, or iptables-save when there is no such table)')
    .addOption(new Option('--mode <mode>', 'which rules to trace: auto picks nftables when the file holds nft rules or the node has kube-proxy\'s nft table').choices([...TRACE_MODES]).default('auto'))
    .requiredOption('--src <ip>', 'the packet\'s source address')
    .requiredOption('--dst <ip:port>', 'the destination address and port')
    .addOption(new Option('--proto <proto>', 'the protocol').choices(['tcp', 'udp', 'sctp']).default('tcp'))
    .option('--sport <port>', 'the source port, for rules that match on it')
    .option('--node-ip <ip>', 'with --rules: an address of the node (repeatable), for "addrtype LOCAL"', collect, [])
    .option('--recent <name>', 'a `recent` list (iptables) or affinity set (nftables) that already holds the source (a returning client; repeatable)', collect, [])
    .option('--json', 'print the result as JSON', false)
    .action(async (opts: { rules?: string; node?: string; mode: TraceMode; src: string; dst: string; proto: 'tcp' | 'udp' | 'sctp'; sport?: string; nodeIp: string[]; recent: string[]; json: boolean }) => {
      const { fileRulesSource, dockerNodeSource } = await import('../../proxy/trace-source.ts');
      if (!opts.rules === !opts.node) throw new UserError('give exactly one of --rules FILE or --node NODE');
      const source = opts.rules ? fileRulesSource(opts.rules, opts.nodeIp) : dockerNodeSource(opts.node!);
      const result = await traceFromSource(source, opts);
      process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatAnyTrace(result));
    });

  addRunFlags(
    proxy
      .command('run')
      .description('run svclab\'s kube-proxy against an API server, programming this network namespace (or --netns)')
      .option('--netns <name>', 'program the rules inside this network namespace (ip netns) instead of the current one'),
  ).action(async (opts: RunFlagValues) => {
    const running = await startFromFlags(opts);
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
    });
    await running.stop();
  });
}

export interface RunFlagValues extends RuleFlagValues, UserspaceFlagValues, IpvsFlagValues {
  kubeconfig?: string;
  proxyMode: string;
  iptablesSyncPeriod: string;
  iptablesMinSyncPeriod: string;
  healthzBindAddress: string;
  metricsBindAddress: string;
  netns?: string;
  cleanup: boolean;
  config?: string;
}

/** `svclab proxy run` and the in-cluster component share these flags (upstream names). */
export function addRunFlags(cmd: Command): Command {
  return addIpvsRunFlags(addUserspaceFlags(addRuleFlags(cmd)))
    .option('--config <file>', 'a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) file; its settings replace the flags\' (except --hostname-override)')
    .option('--kubeconfig <file>', 'kubeconfig of the API server (default: $KUBECONFIG, the in-cluster service account, ~/.kube/config)')
    .addOption(new Option('--proxy-mode <mode>', 'which proxy mode to use').choices([...PROXY_MODES]).default('iptables'))
    .option('--cleanup', 'remove the rules, chains, tables, interfaces and sets of every proxy mode, then exit', false)
    .option('--iptables-sync-period <duration>', 'how often re-synchronizing and cleanup (canary check, stale chains) happen', '30s')
    .option('--iptables-min-sync-period <duration>', 'the minimum period between rule resyncs; 0 syncs on every change', '1s')
    .option('--healthz-bind-address <host:port>', 'where /healthz and /livez are served ("" to disable)', '0.0.0.0:10256')
    .option('--metrics-bind-address <host:port>', 'where /metrics is served ("" to disable)', '127.0.0.1:10249');
}

export async function startFromFlags(flags: RunFlagValues) {
  let opts = flags;
  if (flags.config) {
    const { readConfigFile } = await import('../../proxy/config-file.ts');
    const { values, ignored } = readConfigFile(flags.config);
    opts = { ...flags, ...values };
    if (ignored.length) process.stderr.write(`kube-proxy: --config ${flags.config}: not used by svclab's kube-proxy: ${ignored.join(', ')}\n`);
  }
  checkUserspaceRun(opts);
  const { runProxy } = await import('../../proxy/run.ts');
  const { parseDuration } = await import('../../core/duration.ts');
  const { loadKubeConfig } = await import('../../kube/client.ts');
  const { prefixedExec } = await import('../../proxy/exec.ts');
  const { stderrLine } = await import('../../proxy/log.ts');
  const syncPeriodMs = parseDuration(opts.iptablesSyncPeriod);
  const minSyncPeriodMs = parseDuration(opts.iptablesMinSyncPeriod);
  if (syncPeriodMs === null || syncPeriodMs <= 0) throw new UserError(`--iptables-sync-period ${opts.iptablesSyncPeriod}: expected a duration greater than 0, e.g. 30s`);
  if (minSyncPeriodMs === null) throw new UserError(`--iptables-min-sync-period ${opts.iptablesMinSyncPeriod}: expected a duration, e.g. 1s`);
  const settings = settingsFromFlags(opts, { ipvs: ipvsSettingsFromFlags(opts, parseDuration) });
  const ipvsPeriods = opts.proxyMode === 'ipvs' ? ipvsSyncPeriods(opts, parseDuration) : {};
  const userspace = userspaceOptionsFromFlags(opts, parseDuration);
  const exec = opts.netns ? prefixedExec(['ip', 'netns', 'exec', opts.netns]) : undefined;
  if (opts.cleanup) {
    const { cleanupAllModes } = await import('../../proxy/cleanup.ts');
    const { hostExec } = await import('../../proxy/exec.ts');
    const { removed, errors } = await cleanupAllModes(exec ?? hostExec);
    for (const line of removed) process.stdout.write(`removed ${line}\n`);
    if (errors.length) throw new UserError(`cleanup incomplete: ${errors.join('; ')}`);
    process.stdout.write(removed.length ? `cleaned up ${removed.length} rules, chains and objects\n` : 'nothing to clean up\n');
    process.exit(0);
  }
  return runProxy({
    kubeconfig: loadKubeConfig(opts.kubeconfig),
    settings,
    proxyMode: opts.proxyMode as ProxyMode,
    syncPeriodMs: ipvsPeriods.syncPeriodMs ?? syncPeriodMs,
    minSyncPeriodMs: ipvsPeriods.minSyncPeriodMs ?? minSyncPeriodMs,
    healthzBindAddress: opts.healthzBindAddress,
    metricsBindAddress: opts.metricsBindAddress,
    exec,
    procSys: process.env.SVCLAB_PROC_SYS || undefined,
    userspace,
    log: stderrLine,
  });
}
