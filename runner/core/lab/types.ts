// What a lab.yaml holds once validated against labs/lab.schema.json (see labs/README.md).

export interface Bilingual {
  en: string;
  zh: string;
}

export type Lang = keyof Bilingual;

export type Count = number | { min: number };

export interface ObjectCheck {
  kind: string;
  apiVersion?: string;
  name?: string;
  selector?: Record<string, string>;
  namespace?: string;
  match?: unknown;
  readyEndpoints?: Count;
  absent?: boolean;
}

export interface IptablesExpect {
  clusterIP?: boolean;
  endpoints?: number;
  nodePort?: number | boolean;
  loadBalancer?: boolean;
  externalIP?: string;
  masqueradeOffCluster?: boolean;
  affinity?: number | boolean;
  localOnly?: boolean;
  rejected?: boolean;
}

export interface IptablesCheck {
  node?: string;
  service: string;
  port?: string | number;
  expect: IptablesExpect;
}

export interface DnsCheck {
  name: string;
  type?: 'A' | 'AAAA' | 'SRV' | 'CNAME' | 'PTR' | 'TXT';
  expect: {
    rcode?: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL';
    addresses?: 'endpoints' | 'clusterIP' | string[];
    service?: string;
    cname?: string;
    srv?: { port: string | number; count?: number };
    count?: number;
    empty?: boolean;
  };
}

export interface TrafficCheck {
  service: string;
  via?: 'clusterIP' | 'name' | 'nodePort' | 'loadBalancer' | 'externalIP';
  port?: string | number;
  from?: 'pod' | 'outside';
  requests?: number;
  expect: {
    distinctPods?: number | 'all';
    samePod?: boolean;
    clientPreserved?: boolean;
    refused?: boolean;
  };
}

export interface AnswerCheck {
  prompt: Bilingual;
  expect: {
    serviceChain?: string;
    port?: string | number;
    clusterIP?: string;
    nodePort?: string;
    endpointCount?: string;
    /** nat rules (iptables-save -t nat) on the first node of the selection; `chain`: that chain's only. */
    natRuleCount?: { node?: string; chain?: string; tolerance?: number };
    /** nat rules whose comment names this Service (what one Service costs in iptables mode). */
    serviceNatRules?: string;
    /** The proxy mode whose rules are on the first node of the selection (and no other mode's). */
    proxyMode?: { node?: string };
    /** Median TCP connect time in ms to the Service's cluster IP from the toolbox pod, measured now. */
    firstPacketMs?: { service: string; port?: string | number; factor?: number };
    /** The nftables mode's service chain of that Service port (service-HASH-ns/name/proto/port). */
    nftServiceChain?: string;
    /** An address of the node the toolbox pod runs on (what an endpoint sees behind a proxy on that node). */
    toolboxNodeAddress?: boolean;
    value?: string;
  };
  solve?: string;
}

export interface ScriptCheck {
  /** A module in the lab's folder whose default export gets a ScriptContext and returns a Verdict. */
  file: string;
}

interface CheckCommon {
  timeout?: number;
  settle?: number;
}

export type Check = CheckCommon &
  (
    | { object: ObjectCheck }
    | { iptables: IptablesCheck }
    | { dns: DnsCheck }
    | { traffic: TrafficCheck }
    | { answer: AnswerCheck }
    | { script: ScriptCheck }
  );

export type CheckKind = 'object' | 'iptables' | 'dns' | 'traffic' | 'answer' | 'script';
export const CHECK_KINDS: CheckKind[] = ['object', 'iptables', 'dns', 'traffic', 'answer', 'script'];

export function checkKind(c: Check): CheckKind {
  return CHECK_KINDS.find((k) => k in c)!;
}

export interface Task {
  id: string;
  title: Bilingual;
  text?: Bilingual;
  hints?: Bilingual[];
  solution?: Bilingual;
  /** Once passed, the live check loop keeps it passed: later tasks change what it looked at. */
  once?: boolean;
  checks: Check[];
}

export interface Lab {
  id: string;
  title: Bilingual;
  summary?: Bilingual;
  namespace?: string;
  nodes?: 1 | 3;
  setup?: string[];
  solution?: string;
  tasks: Task[];
}

/** A lab as loaded from disk: where it lives, for setup files, solution and scripts. */
export interface LoadedLab extends Lab {
  dir: string;
  namespace: string;
}
