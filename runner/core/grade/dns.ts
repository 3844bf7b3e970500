// The dns check: a dig answer, seen from inside a pod, against what the cluster's objects say
// it must be (a headless Service's ready endpoint IPs, a CNAME, NXDOMAIN, SRV targets).
import type { DnsCheck } from '../lab/types.ts';
import { fail, pass, type Verdict } from './verdict.ts';

export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DigResult {
  /** NOERROR, NXDOMAIN, SERVFAIL, … or "TIMEOUT" when no server answered. */
  status: string;
  answers: DigRecord[];
}

/** Parses `dig +noall +comments +answer` output. */
export function parseDig(text: string): DigResult {
  const status = /status: ([A-Z]+)/.exec(text)?.[1] ?? (/timed out|no servers could be reached/i.test(text) ? 'TIMEOUT' : 'UNKNOWN');
  const answers: DigRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith(';')) continue;
    const m = /^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (m) answers.push({ name: m[1]!, ttl: Number(m[2]), type: m[3]!, data: m[4]!.trim() });
  }
  return { status, answers };
}

export interface DnsExpectation {
  /** The exact set of addresses the answer must hold (resolved from the cluster). */
  addresses?: string[];
  /** What the addresses are, for the sentence: "the ready endpoints of web-headless". */
  addressesAre?: { en: string; zh: string };
  /** For srv: the port number the records must carry. */
  srvPort?: number;
}

const sorted = (xs: string[]) => [...xs].sort();

export function evaluateDns(check: DnsCheck, dig: DigResult, want: DnsExpectation): Verdict {
  const type = check.type ?? 'A';
  const e = check.expect;
  const q = `${check.name} ${type}`;
  const rcode = e.rcode ?? 'NOERROR';
  if (dig.status === 'TIMEOUT') return fail(`The query ${q} got no answer: is the cluster DNS (kube-dns at 10.96.0.10) running?`, `查询 ${q} 没有应答：集群 DNS（kube-dns，10.96.0.10）在运行吗？`);
  if (dig.status !== rcode) {
    if (dig.status === 'NXDOMAIN') return fail(`${q} is NXDOMAIN: the name does not exist (yet); expected ${rcode}.`, `${q} 返回 NXDOMAIN：这个名字（还）不存在；应为 ${rcode}。`);
    return fail(`${q} answered ${dig.status}, expected ${rcode}.`, `${q} 的应答是 ${dig.status}，应为 ${rcode}。`);
  }
  const ofType = dig.answers.filter((a) => a.type === type);
  if (e.empty && ofType.length > 0) return fail(`${q} has ${ofType.length} answer(s); expected none (NODATA).`, `${q} 有 ${ofType.length} 条应答；应当没有（NODATA）。`);
  if (e.count !== undefined && ofType.length !== e.count) return fail(`${q} has ${ofType.length} ${type} record(s), expected ${e.count}.`, `${q} 有 ${ofType.length} 条 ${type} 记录，应有 ${e.count} 条。`);
  if (e.cname) {
    const target = e.cname.replace(/\.?$/, '.').toLowerCase();
    if (!dig.answers.some((a) => a.type === 'CNAME' && a.data.toLowerCase() === target)) {
      const got = dig.answers.find((a) => a.type === 'CNAME')?.data;
      return fail(`${q} has ${got ? `a CNAME to ${got}` : 'no CNAME'}; expected a CNAME to ${target}.`, `${q} ${got ? `的 CNAME 指向 ${got}` : '没有 CNAME'}；应为指向 ${target} 的 CNAME。`);
    }
  }
  if (want.addresses) {
    const got = sorted(ofType.map((a) => a.data));
    const exp = sorted(want.addresses);
    if (got.join(',') !== exp.join(',')) {
      const are = want.addressesAre ?? { en: 'expected', zh: '期望的地址' };
      if (exp.length === 0) return fail(`${q} answers ${got.join(', ') || 'nothing'}, but there are no ${are.en} yet.`, `${q} 的应答是 ${got.join(', ') || '空'}，但还没有${are.zh}。`);
      return fail(`${q} answers ${got.join(', ') || 'nothing'}; expected exactly ${are.en}: ${exp.join(', ')}.`, `${q} 的应答是 ${got.join(', ') || '空'}；应当正好是${are.zh}：${exp.join(', ')}。`);
    }
  }
  if (e.srv) {
    const srv = dig.answers.filter((a) => a.type === 'SRV').map((a) => a.data.split(/\s+/));
    if (srv.length === 0) return fail(`${q} has no SRV records: SRV records exist only for named ports (ports[].name).`, `${q} 没有 SRV 记录：只有命名端口（ports[].name）才有 SRV 记录。`);
    if (e.srv.count !== undefined && srv.length !== e.srv.count) return fail(`${q} has ${srv.length} SRV records, expected ${e.srv.count} (one per endpoint of a headless Service).`, `${q} 有 ${srv.length} 条 SRV 记录，应有 ${e.srv.count} 条（Headless Service 每个端点一条）。`);
    if (want.srvPort !== undefined) {
      const bad = srv.find((f) => Number(f[2]) !== want.srvPort);
      if (bad) return fail(`${q}: an SRV record points at port ${bad[2]}, expected ${want.srvPort}.`, `${q}：有一条 SRV 记录指向端口 ${bad[2]}，应为 ${want.srvPort}。`);
    }
  }
  return pass();
}
