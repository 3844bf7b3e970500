// Evaluates one check against the live cluster: observes what the check is about (I/O),
// then hands the observation to the pure evaluator in runner/core/grade.
import http from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { oneLine } from '../errors.ts';
import { evaluateAnswer, evaluateAnswerAnyOf, evaluateMeasurement } from '../core/grade/answer.ts';
import { servicePortNames } from '../core/proxy/nftables/names.ts';
import { modesPresent, nodeModeTraces } from '../cluster/proxy-mode.ts';
import { evaluateDns, parseDig, type DnsExpectation } from '../core/grade/dns.ts';
import { chainsOf, evaluateIptables, pickPort, type NodeRules } from '../core/grade/iptables.ts';
import { evaluateObject, type ObjectObservation } from '../core/grade/object.ts';
import { evaluateTraffic, parseEchoReply, type Reply } from '../core/grade/traffic.ts';
import { fail, type Verdict } from '../core/grade/verdict.ts';
import { checkKind, type AnswerCheck, type Bilingual, type Check, type CheckKind, type DnsCheck, type IptablesCheck, type LoadedLab, type ObjectCheck, type TrafficCheck } from '../core/lab/types.ts';
import type { LabCluster, NodeInfo, Round } from './cluster.ts';
import { podSummaries, readService, serviceEndpoints, serviceView, splitName } from './observe.ts';

export interface CheckEnv {
  lab: LoadedLab;
  round: Round;
  /** Answers the learner gave, by task id. */
  answers: Record<string, string>;
  taskId: string;
}

/** Seconds one evaluation of a check may take, by kind, unless the check says otherwise. */
export const DEFAULT_TIMEOUT: Record<CheckKind, number> = { object: 10, iptables: 20, dns: 20, traffic: 45, answer: 20, script: 30 };

async function objectCheck(c: ObjectCheck, env: CheckEnv): Promise<Verdict> {
  const ns = c.namespace ?? env.lab.namespace;
  const cl = env.round.cluster;
  const objects = c.name ? [await cl.get(c.kind, c.name, ns, c.apiVersion)].filter((o) => o !== undefined) : await cl.list(c.kind, ns, Object.entries(c.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(','), c.apiVersion);
  const obs: ObjectObservation = { objects };
  if (c.readyEndpoints !== undefined && c.kind === 'Service') {
    obs.readyEndpoints = {};
    for (const o of objects) obs.readyEndpoints[o.metadata!.name!] = (await serviceEndpoints(env.round, ns, o.metadata!.name!)).filter((e) => e.ready).length;
    obs.pods = await podSummaries(env.round, ns);
  }
  return evaluateObject(c, ns, obs);
}

function selectNodes(all: NodeInfo[], sel: string): NodeInfo[] {
  if (sel === 'all' || sel === 'any') return all;
  if (sel === 'worker') return all.filter((n) => !n.roles.includes('control-plane'));
  if (sel === 'control-plane') return all.filter((n) => n.roles.includes('control-plane'));
  return all.filter((n) => n.name === sel || n.name.endsWith(`-${sel}`));
}

async function iptablesCheck(c: IptablesCheck, env: CheckEnv): Promise<Verdict> {
  const svc = await readService(env.round, c.service, env.lab.namespace);
  const sel = c.node ?? 'all';
  const nodes = selectNodes(await env.round.nodes(), sel);
  const rules: NodeRules[] = await Promise.all(nodes.map(async (n) => ({ node: n.name, dump: await env.round.rules(n.name) })));
  return evaluateIptables(c, svc ? serviceView(svc) : undefined, rules, sel === 'any' ? 'any' : 'all');
}

/** The Service a DNS name is about: the expect.service, else the label before the namespace. */
function dnsService(c: DnsCheck, labNs: string): { namespace: string; name: string } {
  if (c.expect.service) return splitName(c.expect.service, labNs);
  const labels = c.name.replace(/\.$/, '').split('.').filter((l) => !l.startsWith('_'));
  const ns = labels.length > 1 && labels[1] !== 'svc' ? labels[1]! : labNs;
  return { namespace: ns, name: labels[0]! };
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function dnsCheck(c: DnsCheck, env: CheckEnv): Promise<Verdict> {
  const type = c.type ?? 'A';
  const r = await env.round.cluster.inPod(`dig +search +time=2 +tries=2 +noall +comments +answer ${quote(c.name)} ${type}`);
  const dig = parseDig(r.out);
  const want: DnsExpectation = {};
  const e = c.expect;
  if (e.addresses !== undefined || e.srv) {
    const ref = dnsService(c, env.lab.namespace);
    const svc = await env.round.cluster.get('Service', ref.name, ref.namespace);
    if (Array.isArray(e.addresses)) want.addresses = e.addresses;
    else if (e.addresses === 'clusterIP') {
      want.addresses = svc && (svc.spec as { clusterIP?: string }).clusterIP !== 'None' ? [(svc.spec as { clusterIP: string }).clusterIP] : [];
      want.addressesAre = { en: `the cluster IP of ${ref.name}`, zh: ` ${ref.name} 的 Cluster IP` };
    } else if (e.addresses === 'endpoints') {
      const publish = (svc?.spec as { publishNotReadyAddresses?: boolean } | undefined)?.publishNotReadyAddresses === true;
      const eps = svc ? await serviceEndpoints(env.round, ref.namespace, ref.name) : [];
      want.addresses = eps.filter((x) => x.ready || publish).map((x) => x.ip).filter((ip) => (type === 'AAAA') === ip.includes(':'));
      want.addressesAre = publish ? { en: `the endpoints of ${ref.name} (ready or not: publishNotReadyAddresses)`, zh: ` ${ref.name} 的全部端点（无论是否就绪：publishNotReadyAddresses）` } : { en: `the ready endpoints of ${ref.name}`, zh: ` ${ref.name} 的就绪端点` };
    }
    if (e.srv && svc) {
      const headless = (svc.spec as { clusterIP?: string }).clusterIP === 'None';
      const sp = serviceView(svc).ports.find((p) => p.name === String(e.srv!.port) || p.port === Number(e.srv!.port));
      if (sp) want.srvPort = headless ? ((await serviceEndpoints(env.round, ref.namespace, ref.name))[0]?.ports[sp.name] ?? sp.port) : sp.port;
    }
  }
  return evaluateDns(c, dig, want);
}

/** One HTTP request from this host, on a new connection each time (so kube-proxy picks anew). */
function requestFromHost(host: string, port: number): Promise<Reply & { local?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', agent: false, timeout: 2000, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d.length < 4096 ? d : ''));
      res.on('end', () => resolve({ ...parseEchoReply(body), local: req.socket?.localAddress?.replace(/^::ffff:/, '') }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ ok: false, error: (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'connection refused' : oneLine(err) }));
  });
}

const SEP = '----svclab----';

async function requestsFromPod(cluster: LabCluster, host: string, port: number, n: number): Promise<Reply[]> {
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  const r = await cluster.inPod(`for i in $(seq ${n}); do curl -sS --connect-timeout 2 -m 3 ${quote(url)} 2>&1; echo; echo ${SEP}; done`, (n * 3 + 10) * 1000);
  const parts = r.out.split(`${SEP}\n`).slice(0, n);
  return parts.map((p) => {
    const reply = parseEchoReply(p);
    if (!reply.ok) reply.error = /refused|couldn't connect/i.test(p) ? 'connection refused' : /timed out|timeout/i.test(p) ? 'timed out' : /resolve/i.test(p) ? 'name not resolved' : (reply.error ?? 'no answer');
    return reply;
  });
}

async function trafficCheck(c: TrafficCheck, env: CheckEnv): Promise<Verdict> {
  const o = await readService(env.round, c.service, env.lab.namespace);
  const name = splitName(c.service, env.lab.namespace);
  if (!o) return fail(`There is no Service ${name.name} to send traffic to yet.`, `还没有可以发送流量的 Service ${name.name}。`);
  const svc = serviceView(o);
  const p = pickPort(svc, c.port);
  if (!p) return fail(`Service ${svc.name} has no port ${c.port}.`, `Service ${svc.name} 没有端口 ${c.port}。`);
  const eps = await serviceEndpoints(env.round, svc.namespace, svc.name);
  const via = c.via ?? 'clusterIP';
  const from = c.from ?? 'pod';
  let host: string | undefined;
  let port = p.port;
  if (via === 'clusterIP') host = svc.clusterIP && svc.clusterIP !== 'None' ? svc.clusterIP : undefined;
  else if (via === 'name') host = `${svc.name}.${svc.namespace}.svc.cluster.local`;
  else if (via === 'loadBalancer') host = svc.ingressIPs[0];
  else if (via === 'externalIP') host = svc.externalIPs[0];
  else if (via === 'nodePort') {
    if (!p.nodePort) return fail(`Service ${svc.name} has no node port: make it type NodePort.`, `Service ${svc.name} 没有 NodePort：把它的类型改为 NodePort。`);
    port = p.nodePort;
    const nodes = await env.round.nodes();
    const local = (o.spec as { externalTrafficPolicy?: string }).externalTrafficPolicy === 'Local';
    // Under externalTrafficPolicy Local only nodes with an endpoint answer: aim at one of them.
    const withEndpoint = nodes.find((n) => eps.some((e) => e.ready && e.nodeName === n.name));
    host = (local && withEndpoint ? withEndpoint : nodes.find((n) => !n.roles.includes('control-plane')) ?? nodes[0])?.internalIP;
  }
  if (!host) {
    const what: Record<string, Bilingual> = {
      clusterIP: { en: 'has no cluster IP (it is headless)', zh: '没有 Cluster IP（它是 Headless Service）' },
      loadBalancer: { en: 'has no load balancer address yet (EXTERNAL-IP <pending>)', zh: '还没有负载均衡地址（EXTERNAL-IP 为 <pending>）' },
      externalIP: { en: 'lists no spec.externalIPs', zh: '没有设置 spec.externalIPs' },
    };
    const w = what[via] ?? { en: 'cannot be reached that way', zh: '无法这样访问' };
    return fail(`Service ${svc.name} ${w.en}.`, `Service ${svc.name} ${w.zh}。`);
  }
  const n = c.requests ?? 10;
  let replies: (Reply & { local?: string })[];
  let sourceIP: string | undefined;
  if (from === 'pod') {
    replies = await requestsFromPod(env.round.cluster, host, port, n);
    sourceIP = await env.round.cluster.toolboxIP();
  } else {
    replies = [];
    for (let i = 0; i < n; i++) replies.push(await requestFromHost(host, port));
    sourceIP = replies.find((r) => r.local)?.local;
  }
  return evaluateTraffic(c, replies, { target: `${host}:${port}`, sourceIP, readyEndpoints: eps.filter((e) => e.ready).length });
}

/** The value an answer check expects, read from the live cluster (undefined: not there yet). */
export async function expectedAnswer(c: AnswerCheck, env: CheckEnv): Promise<string | undefined> {
  const e = c.expect;
  if (e.value !== undefined) return e.value;
  const ref = e.serviceChain ?? e.clusterIP ?? e.nodePort ?? e.endpointCount;
  if (ref) {
    const o = await readService(env.round, ref, env.lab.namespace);
    if (!o) return undefined;
    const svc = serviceView(o);
    const p = pickPort(svc, e.port);
    if (e.serviceChain) return p ? chainsOf(svc, p).svc : undefined;
    if (e.clusterIP) return svc.clusterIP;
    if (e.nodePort) return p?.nodePort ? String(p.nodePort) : undefined;
    return String((await serviceEndpoints(env.round, svc.namespace, svc.name)).filter((x) => x.ready).length);
  }
  if (e.natRuleCount) {
    const node = selectNodes(await env.round.nodes(), e.natRuleCount.node ?? 'worker')[0];
    if (!node) return undefined;
    const chains = (await env.round.rules(node.name)).tables.find((t) => t.name === 'nat')?.chains ?? [];
    const chain = e.natRuleCount.chain;
    return String(chains.filter((ch) => !chain || ch.name === chain).reduce((a, ch) => a + ch.rules.length, 0));
  }
  if (e.serviceNatRules) {
    const { namespace, name } = splitName(e.serviceNatRules, env.lab.namespace);
    const node = selectNodes(await env.round.nodes(), 'worker')[0];
    if (!node || !(await readService(env.round, e.serviceNatRules, env.lab.namespace))) return undefined;
    const named = new RegExp(`^${`${namespace}/${name}`.replace(/[.]/g, '\\.')}(?:[: ]|$)`);
    const chains = (await env.round.rules(node.name)).tables.find((t) => t.name === 'nat')?.chains ?? [];
    return String(chains.reduce((a, ch) => a + ch.rules.filter((r) => named.test(r.args[r.args.indexOf('--comment') + 1] ?? '')).length, 0));
  }
  if (e.proxyMode) {
    const node = selectNodes(await env.round.nodes(), e.proxyMode.node ?? 'worker')[0];
    if (!node) return undefined;
    const modes = modesPresent(await nodeModeTraces(env.round.cluster.docker, node.name));
    return modes.length === 1 ? modes[0] : undefined;
  }
  if (e.nftServiceChain) {
    const o = await readService(env.round, e.nftServiceChain, env.lab.namespace);
    if (!o) return undefined;
    const svc = serviceView(o);
    const p = pickPort(svc, e.port);
    return p ? servicePortNames(`${svc.namespace}/${svc.name}`, p.name, p.protocol.toLowerCase()).clusterPolicy : undefined;
  }
  return undefined;
}

/** The median TCP connect time, in ms, of `n` new connections from the toolbox pod. */
async function medianConnectMs(cluster: LabCluster, host: string, port: number, n = 31): Promise<number | undefined> {
  const r = await cluster.inPod(`for i in $(seq ${n}); do curl -s -o /dev/null --connect-timeout 2 -w '%{time_connect}\\n' http://${host}:${port}/; done`, n * 3000);
  const times = r.out.split('\n').map(Number).filter((t) => Number.isFinite(t) && t > 0).sort((a, b) => a - b);
  return times.length >= n / 2 ? times[Math.floor(times.length / 2)]! * 1000 : undefined;
}

/** The addresses of the node the toolbox pod runs on: its InternalIP and its pod bridge's. */
async function toolboxNodeAddresses(env: CheckEnv): Promise<string[] | undefined> {
  const nodeName = ((await env.round.cluster.toolboxPod())?.spec as { nodeName?: string } | undefined)?.nodeName;
  if (!nodeName) return undefined;
  const out = await env.round.cluster.onNode(nodeName, "ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1");
  return out.split('\n').map((a) => a.trim()).filter((a) => a && !a.startsWith('127.'));
}

async function answerCheck(c: AnswerCheck, env: CheckEnv): Promise<Verdict> {
  const given = env.answers[env.taskId];
  if (given === undefined || given.trim() === '') return evaluateAnswer(c, given, undefined);
  const e = c.expect;
  if (e.firstPacketMs) {
    const o = await readService(env.round, e.firstPacketMs.service, env.lab.namespace);
    const svc = o && serviceView(o);
    const p = svc && pickPort(svc, e.firstPacketMs.port);
    const ms = svc?.clusterIP && svc.clusterIP !== 'None' && p ? await medianConnectMs(env.round.cluster, svc.clusterIP, p.port) : undefined;
    return evaluateMeasurement(c, given, ms, e.firstPacketMs.factor);
  }
  // "10.244.1.1:43512" as curl's echo reply prints it is the address 10.244.1.1.
  if (e.toolboxNodeAddress) return evaluateAnswerAnyOf(c, given.trim().replace(/:\d+$/, ''), await toolboxNodeAddresses(env));
  return evaluateAnswer(c, given, await expectedAnswer(c, env), e.natRuleCount ? (e.natRuleCount.tolerance ?? 0.1) : 0);
}

/** What a lab's script check receives. */
export interface ScriptContext {
  lab: string;
  namespace: string;
  kubectl(args: string[]): Promise<{ code: number; out: string }>;
  inPod(cmd: string): Promise<{ code: number; out: string }>;
  nodes(): Promise<NodeInfo[]>;
  iptablesSave(node: string): Promise<string>;
  /** sh -c on a node (its container), as root: what a node shell would print. */
  onNode(node: string, cmd: string): Promise<string>;
}

async function scriptCheck(file: string, env: CheckEnv): Promise<Verdict> {
  const mod = (await import(pathToFileURL(join(env.lab.dir, file)).href)) as { default?: (ctx: ScriptContext) => Promise<Verdict> };
  if (typeof mod.default !== 'function') return fail(`The lab's check ${file} exports no default function.`, `实验的检查脚本 ${file} 没有导出默认函数。`);
  const cl = env.round.cluster;
  const v = await mod.default({ lab: env.lab.id, namespace: env.lab.namespace, kubectl: (a) => cl.kubectl(a), inPod: (cmd) => cl.inPod(cmd), nodes: () => env.round.nodes(), iptablesSave: (n) => cl.iptablesSave(n), onNode: (n, cmd) => cl.onNode(n, cmd) });
  return v?.pass ? { pass: true } : { pass: false, reason: v?.reason ?? { en: `${file} failed.`, zh: `${file} 未通过。` } };
}

/** Runs one check with its timeout; any error becomes a failed verdict with a one-line reason. */
export async function runCheck(check: Check, env: CheckEnv): Promise<Verdict> {
  const kind = checkKind(check);
  const secs = check.timeout ?? DEFAULT_TIMEOUT[kind];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Verdict>((resolve) => {
    timer = setTimeout(() => resolve(fail(`This ${kind} check did not finish within ${secs} s: the cluster may be busy or unreachable; it is tried again.`, `这项 ${kind} 检查没有在 ${secs} 秒内完成：集群可能正忙或无法访问；稍后会重试。`)), secs * 1000);
  });
  const work = (async (): Promise<Verdict> => {
    switch (kind) {
      case 'object':
        return objectCheck((check as { object: ObjectCheck }).object, env);
      case 'iptables':
        return iptablesCheck((check as { iptables: IptablesCheck }).iptables, env);
      case 'dns':
        return dnsCheck((check as { dns: DnsCheck }).dns, env);
      case 'traffic':
        return trafficCheck((check as { traffic: TrafficCheck }).traffic, env);
      case 'answer':
        return answerCheck((check as { answer: AnswerCheck }).answer, env);
      case 'script':
        return scriptCheck((check as { script: { file: string } }).script.file, env);
    }
  })().catch((err: unknown) => fail(`This check could not look at the cluster: ${oneLine(err)}`, `这项检查无法读取集群状态：${oneLine(err)}`));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
