// The nftables proxier's sync loop against an in-memory nft: upstream's
// TestSyncProxyRulesRepeated and TestSyncProxyRulesStartup (pkg/proxy/nftables, v1.34.4)
// with their expected tables and transaction sizes, plus failure handling, both families
// and cleanup.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SETTINGS } from '../../../runner/core/proxy/options.ts';
import type { EndpointSlice, Node, Service } from '../../../runner/core/proxy/types.ts';
import { ProxyHealth } from '../../../runner/proxy/health.ts';
import { newMetrics } from '../../../runner/proxy/metrics.ts';
import { FamilyProxier } from '../../../runner/proxy/nftables/family.ts';
import { nftablesMetrics } from '../../../runner/proxy/nftables/metrics.ts';
import { nftablesMode } from '../../../runner/proxy/nftables/mode.ts';
import { NftablesProxier } from '../../../runner/proxy/nftables/proxier.ts';
import type { Exec } from '../../../runner/proxy/exec.ts';
import { RunError } from '../../../runner/exec.ts';
import { UserError } from '../../../runner/errors.ts';
import { checkNft, NFT_MISSING } from '../../../runner/proxy/nftables/nft.ts';
import { BASE_RULES, FakeNft, makeService, makeSlice, sortNFTablesTransaction, TEST_NODE } from './nftables-fixtures.ts';

const NODE: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: TEST_NODE }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.2' }] } };
const SETTINGS = { ...DEFAULT_SETTINGS, nodeName: TEST_NODE, clusterCIDRs: ['10.0.0.0/8'], nodePortAddresses: ['192.168.0.2/32', '2001:db8::1/128'] };
const noExec: Exec = async () => ({ code: 0, stdout: '', stderr: '' });

// The proxier marks with 0x00004000 (upstream's real mark); upstream's fake proxier with "0x4000".
const base = BASE_RULES.replaceAll('0x4000', '0x00004000');
const same = (nft: FakeNft, expected: string) => assert.equal(sortNFTablesTransaction(nft.tables.ip.dump()), sortNFTablesTransaction(base + expected));

function harness(nft = new FakeNft(), over: { now?: () => number; log?: (l: string) => void } = {}) {
  const p = new FamilyProxier({
    family: 'IPv4', settings: SETTINGS, node: NODE, nft, exec: noExec, syncPeriodMs: 30_000, minSyncPeriodMs: 0,
    interfaceAddresses: async () => ['192.168.0.2', '192.168.1.2', '192.168.99.11'],
    log: over.log ?? (() => {}), warn: () => {}, now: over.now,
  });
  p.setServiceCIDRs(['172.30.0.0/16', 'fd00:10:96::/112']);
  return p;
}

const svc = (ns: string, name: string, ip: string, portName: string, port: number) =>
  makeService(ns, name, (s) => {
    s.spec.type = 'ClusterIP';
    s.spec.clusterIP = ip;
    s.spec.ports = [{ name: portName, port, protocol: 'TCP' }];
  });
const eps = (ns: string, name: string, portName: string, port: number, ips: string[]): EndpointSlice =>
  makeSlice(ns, name, 1, (s) => {
    s.addressType = 'IPv4';
    s.endpoints = ips.map((ip) => ({ addresses: [ip] }));
    s.ports = [{ name: portName, port, protocol: 'TCP' }];
  });

const R0 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 numgen random mod 1 vmap { 0 : goto endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 }
add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 ip saddr 10.0.2.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 meta l4proto tcp dnat to 10.0.2.1:8080
`;

const R1 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 numgen random mod 1 vmap { 0 : goto endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 }
add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 ip saddr 10.0.2.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 meta l4proto tcp dnat to 10.0.2.1:8080

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 }
add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 ip saddr 10.0.3.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 meta l4proto tcp dnat to 10.0.3.1:80
`;

const R2 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 }
add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 ip saddr 10.0.3.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 meta l4proto tcp dnat to 10.0.3.1:80
`;

const R3 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 }
add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 ip saddr 10.0.3.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 meta l4proto tcp dnat to 10.0.3.1:80
`;

const R4 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 }
add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 ip saddr 10.0.3.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 meta l4proto tcp dnat to 10.0.3.1:80

add element ip kube-proxy no-endpoint-services { 172.30.0.44 . tcp . 80 comment "ns4/svc4:p80" : goto reject-chain }
`;

const R5 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 }
add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 ip saddr 10.0.3.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80 meta l4proto tcp dnat to 10.0.3.1:80

add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 }
add chain ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 ip saddr 10.0.4.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 meta l4proto tcp dnat to 10.0.4.1:80
`;

const R6 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 }
add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80

add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 }
add chain ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 ip saddr 10.0.4.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 meta l4proto tcp dnat to 10.0.4.1:80
`;

const R7 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 , 1 : goto endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 }
add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80
add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80
add rule ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 ip saddr 10.0.3.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 meta l4proto tcp dnat to 10.0.3.3:80

add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 }
add chain ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 ip saddr 10.0.4.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 meta l4proto tcp dnat to 10.0.4.1:80
`;

const R8 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 comment "ns3/svc3:p80" : goto reject-chain }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80

add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 }
add chain ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 ip saddr 10.0.4.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 meta l4proto tcp dnat to 10.0.4.1:80
`;

const R9 = `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 , 1 : goto endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 }
add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80
add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80
add rule ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 ip saddr 10.0.3.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 meta l4proto tcp dnat to 10.0.3.3:80

add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 }
add chain ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 ip saddr 10.0.4.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-WAHRBT2B-ns4/svc4/tcp/p80__10.0.4.1/80 meta l4proto tcp dnat to 10.0.4.1:80
`;

test('TestSyncProxyRulesRepeated: partial syncs write only what changed; stale chains are flushed, then deleted a second later', async () => {
  let clock = 1_000_000;
  const nft = new FakeNft();
  const p = harness(nft, { now: () => clock });
  const ops = () => p.lastTransaction!.numOperations;
  const svc2 = svc('ns2', 'svc2', '172.30.0.42', 'p8080', 8080);
  p.onServiceUpdate(null, svc('ns1', 'svc1', '172.30.0.41', 'p80', 80));
  p.onServiceUpdate(null, svc2);
  p.onEndpointSliceUpdate(eps('ns1', 'svc1', 'p80', 80, ['10.0.1.1']), false);
  p.onEndpointSliceUpdate(eps('ns2', 'svc2', 'p8080', 8080, ['10.0.2.1']), false);
  await p.onServicesSynced();
  assert.equal(nft.transactions.length, 0, 'no sync before the EndpointSlices are listed too');
  assert.ok(await p.onEndpointSlicesSynced());
  same(nft, R0);

  p.onServiceUpdate(null, svc('ns3', 'svc3', '172.30.0.43', 'p80', 80));
  const eps3 = eps('ns3', 'svc3', 'p80', 80, ['10.0.3.1']);
  p.onEndpointSliceUpdate(eps3, false);
  assert.ok(await p.syncProxyRules());
  same(nft, R1);
  assert.equal(ops(), 10, '1 element each in cluster-ips and service-ips; add+flush 2 chains, 2 rules each');

  p.onServiceUpdate(svc2, null);
  await p.syncProxyRules();
  same(nft, R2);
  assert.equal(ops(), 4, 'delete 2 elements, flush 2 chains');

  clock += 2000;
  await p.syncProxyRules();
  same(nft, R3);
  assert.equal(ops(), 0, 'the stale chains went in a transaction of their own');
  assert.match(nft.transactions.at(-1)!, /^delete chain ip kube-proxy endpoint-7RVP4LUQ-ns2\/svc2\/tcp\/p8080__10\.0\.2\.1\/8080\ndelete chain ip kube-proxy service-MHHHYRWA-ns2\/svc2\/tcp\/p8080\n$/);

  p.onServiceUpdate(null, svc('ns4', 'svc4', '172.30.0.44', 'p80', 80));
  await p.syncProxyRules();
  same(nft, R4);
  assert.equal(ops(), 2);

  p.onEndpointSliceUpdate(eps('ns4', 'svc4', 'p80', 80, ['10.0.4.1']), false);
  await p.syncProxyRules();
  same(nft, R5);
  assert.equal(ops(), 10);

  const eps3b = eps('ns3', 'svc3', 'p80', 80, ['10.0.3.2']);
  p.onEndpointSliceUpdate(eps3b, false);
  await p.syncProxyRules();
  same(nft, R6);
  assert.equal(ops(), 9, 'add+flush 2 chains with 2 rules each, flush the old endpoint chain');

  clock += 2000;
  const eps3c = eps('ns3', 'svc3', 'p80', 80, ['10.0.3.2', '10.0.3.3']);
  p.onEndpointSliceUpdate(eps3c, false);
  await p.syncProxyRules();
  same(nft, R7);
  assert.equal(ops(), 12);

  const eps3empty = eps('ns3', 'svc3', 'p80', 80, []);
  p.onEndpointSliceUpdate(eps3empty, false);
  await p.syncProxyRules();
  same(nft, R8);
  assert.equal(ops(), 5);
  assert.deepEqual([...p.sync.staleChains.keys()].sort(), ['endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80', 'endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80', 'service-4AT6LBPK-ns3/svc3/tcp/p80']);

  p.onEndpointSliceUpdate(eps3c, false);
  await p.syncProxyRules();
  same(nft, R9);
  assert.equal(ops(), 14);
  assert.equal(p.sync.staleChains.size, 0);

  // Emptied, aged, restored: the chains are deleted first, then made again.
  p.onEndpointSliceUpdate(eps3empty, false);
  await p.syncProxyRules();
  clock += 2000;
  p.onEndpointSliceUpdate(eps3c, false);
  await p.syncProxyRules();
  same(nft, R9);
  await p.syncProxyRules();
  same(nft, R9);
  assert.equal(ops(), 0);
});

test('TestSyncProxyRulesStartup: after a restart, elements and endpoint chains already in the table are kept, not rewritten', async () => {
  const empty = harness();
  await empty.onServicesSynced();
  await empty.onEndpointSlicesSynced();
  const setupOps = empty.lastTransaction!.numOperations;

  const nft = new FakeNft();
  nft.tables.ip.runText(BASE_RULES + `
add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080

add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 }
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80

add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 numgen random mod 1 vmap { 0 : goto endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 }
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 ip saddr 10.0.2.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 meta l4proto tcp dnat to 10.0.2.1:8080

add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }
`);
  const p = harness(nft);
  for (const s of [svc('ns1', 'svc1', '172.30.0.41', 'p80', 80), svc('ns2', 'svc2', '172.30.0.42', 'p8080', 8080), svc('ns3', 'svc3', '172.30.0.43', 'p80', 80)]) p.onServiceUpdate(null, s);
  p.onEndpointSliceUpdate(eps('ns1', 'svc1', 'p80', 80, ['10.0.1.1', '10.0.1.2']), false);
  p.onEndpointSliceUpdate(eps('ns2', 'svc2', 'p8080', 8080, ['10.0.2.1']), false);
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  same(nft, `
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 8080 : goto service-MHHHYRWA-ns2/svc2/tcp/p8080 }
add element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 comment "ns3/svc3:p80" : goto reject-chain }

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 , 1 : goto endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 }
add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80
add chain ip kube-proxy endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80
add rule ip kube-proxy endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 ip saddr 10.0.1.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 meta l4proto tcp dnat to 10.0.1.2:80

add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080 numgen random mod 1 vmap { 0 : goto endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 }
add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 ip saddr 10.0.2.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080 meta l4proto tcp dnat to 10.0.2.1:8080
`);
  // svc3's IP in cluster-ips and no-endpoint-services (2), 2 service chains with 2 rules (8), svc1's new endpoint chain (4).
  assert.equal(p.lastTransaction!.numOperations, setupOps + 14);
});

test('a failed sync keeps the previous table, is retried as a full sync, and counts as a failure', async () => {
  const nft = new FakeNft();
  const metrics = newMetrics();
  const nftMetrics = nftablesMetrics(metrics.registry);
  const lines: string[] = [];
  let clock = 1_000_000;
  const health = new ProxyHealth(60_000, () => clock);
  const p = new FamilyProxier({
    family: 'IPv4', settings: SETTINGS, node: NODE, nft, exec: noExec, syncPeriodMs: 30_000, minSyncPeriodMs: 0, metrics, nftMetrics, health,
    log: (l) => lines.push(l), warn: () => {}, now: () => clock,
  });
  p.onServiceUpdate(null, svc('ns1', 'svc1', '172.30.0.41', 'p80', 80));
  p.onEndpointSliceUpdate(eps('ns1', 'svc1', 'p80', 80, ['10.0.1.1']), false);
  await p.onServicesSynced();
  assert.ok(await p.onEndpointSlicesSynced());
  const before = nft.tables.ip.dump();
  health.updated('IPv4');

  p.onEndpointSliceUpdate(eps('ns1', 'svc1', 'p80', 80, ['10.0.1.1', '10.0.1.2']), false);
  health.queuedUpdate('IPv4');
  nft.failNext = 'Could not process rule: No such file or directory';
  assert.equal(await p.syncProxyRules(), false);
  assert.equal(nft.tables.ip.dump(), before, 'nothing of the failed transaction was applied');
  assert.ok(lines.some((l) => /^nftables sync failed \(IPv4\): nft -f exited 1/.test(l)), lines.join('\n'));
  assert.ok(lines.includes('sync failed; retrying in 30s with a full sync'));
  assert.match(await metrics.registry.getSingleMetricAsString('kubeproxy_sync_proxy_rules_nftables_sync_failures_total'), /\{ip_family="IPv4"\} 1/);
  clock += 61_000;
  assert.equal(health.health().healthy, false, 'unhealthy once an update waited longer than the health timeout');

  // The retry is a full sync, and catches up with the change the failed one lost.
  assert.ok(await p.syncProxyRules());
  assert.match(p.lastTransaction!.toString(), /^add table ip kube-proxy/);
  assert.match(nft.tables.ip.dump(), /numgen random mod 2 vmap/);
  assert.equal(health.health().healthy, true);
});

test('a failed stale-chain deletion makes the sync a full one and is retried', async () => {
  let clock = 1_000_000;
  const nft = new FakeNft();
  const p = harness(nft, { now: () => clock });
  const s1 = svc('ns1', 'svc1', '172.30.0.41', 'p80', 80);
  p.onServiceUpdate(null, s1);
  p.onEndpointSliceUpdate(eps('ns1', 'svc1', 'p80', 80, ['10.0.1.1']), false);
  await p.onServicesSynced();
  await p.onEndpointSlicesSynced();
  p.onServiceUpdate(s1, null);
  await p.syncProxyRules();
  assert.equal(p.sync.staleChains.size, 2);
  clock += 2000;
  nft.failNext = 'Device or resource busy';
  assert.ok(await p.syncProxyRules());
  assert.match(p.lastTransaction!.toString(), /^add table ip kube-proxy/, 'a full sync');
  assert.equal(p.sync.staleChains.size, 2, 'still stale (flushed again by the full sync)');
  clock += 2000;
  await p.syncProxyRules();
  assert.deepEqual(nft.tables.ip.chains().filter((c) => c.includes('/')), []);
});

test('a table that cannot be listed is rewritten: sets and maps are flushed and filled again', async () => {
  const nft = new FakeNft();
  const p = harness(nft);
  p.onServiceUpdate(null, svc('ns1', 'svc1', '172.30.0.41', 'p80', 80));
  await p.onServicesSynced();
  nft.listFails = true;
  await p.onEndpointSlicesSynced();
  const tx = p.lastTransaction!.toString();
  for (const m of ['cluster-ips', 'service-ips', 'no-endpoint-services']) assert.ok(tx.includes(`flush ${m === 'cluster-ips' ? 'set' : 'map'} ip kube-proxy ${m}\n`), m);
  assert.deepEqual(nft.tables.ip.elements('cluster-ips')!.map((e) => e.key[0]), ['172.30.0.41']);
});

test('both families: an ip and an ip6 table, each with its own services; cleanup removes both', async () => {
  const nft = new FakeNft();
  const p = new NftablesProxier({ settings: SETTINGS, node: NODE, families: ['IPv4', 'IPv6'], nft, exec: noExec, syncPeriodMs: 30_000, minSyncPeriodMs: 0, log: () => {} });
  const dual: Service = makeService('ns1', 'dual', (s) => {
    s.spec.clusterIP = '172.30.0.50';
    s.spec.clusterIPs = ['172.30.0.50', 'fd00:10:96::50'];
    s.spec.ipFamilies = ['IPv4', 'IPv6'];
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }];
  });
  p.onServiceCIDRs(['172.30.0.0/16', 'fd00:10:96::/112']);
  p.onServiceUpdate(null, dual);
  p.onEndpointSliceUpdate({ ...eps('ns1', 'dual', 'p80', 80, ['fd00:10::5']), addressType: 'IPv6' }, false);
  await p.onServicesSynced();
  assert.ok(await p.onEndpointSlicesSynced());
  assert.match(nft.tables.ip.dump(), /add element ip kube-proxy no-endpoint-services \{ 172\.30\.0\.50 \. tcp \. 80 comment "ns1\/dual:p80" : goto reject-chain \}/);
  assert.match(nft.tables.ip6.dump(), /add element ip6 kube-proxy service-ips \{ fd00:10:96::50 \. tcp \. 80 : goto service-\S+-ns1\/dual\/tcp\/p80 \}/);
  assert.match(nft.tables.ip6.dump(), /add rule ip6 kube-proxy cluster-ips-check ip6 daddr \{ fd00:10:96::\/112 \} drop/);
  // --nodeport-addresses names an IPv6 CIDR no interface address is in: an empty set, not "every address".
  assert.deepEqual(nft.tables.ip6.elements('nodeport-ips'), []);
  assert.ok(!nft.tables.ip.dump().includes('fd00:10:96::50'));

  const removed = await nftablesMode.cleanup(fakeNftExec(nft));
  assert.deepEqual(removed, ['deleted nftables table ip kube-proxy', 'deleted nftables table ip6 kube-proxy']);
  assert.ok(!nft.tables.ip.exists && !nft.tables.ip6.exists);
  assert.deepEqual(await nftablesMode.cleanup(fakeNftExec(nft)), [], 'nothing left to remove');
});

/** An Exec that answers `nft delete table FAMILY kube-proxy` from a FakeNft, like nft does. */
function fakeNftExec(nft: FakeNft): Exec {
  return async (cmd, args) => {
    assert.equal(cmd, 'nft');
    const [verb, what, family] = args as [string, string, 'ip' | 'ip6'];
    assert.deepEqual([verb, what, args[3]], ['delete', 'table', 'kube-proxy']);
    if (await nft.deleteTable(family)) return { code: 0, stdout: '', stderr: '' };
    return { code: 1, stdout: '', stderr: `Error: Could not process rule: No such file or directory\ndelete table ${family} kube-proxy\n` };
  };
}

test('without nft: starting the mode fails with one line naming the Debian package; cleanup has nothing to remove', async () => {
  const missing: Exec = async (cmd) => {
    throw new RunError(cmd, null, `${cmd}: command not found`);
  };
  const inNetns: Exec = async () => ({ code: 255, stdout: '', stderr: 'exec of "nft" failed: No such file or directory\n' });
  for (const exec of [missing, inNetns]) {
    await assert.rejects(checkNft(exec), (err: unknown) => err instanceof UserError && err.message === NFT_MISSING && !err.message.includes('\n'));
    assert.deepEqual(await nftablesMode.cleanup(exec), []);
  }
  assert.match(NFT_MISSING, /Debian package nftables/);
  const old: Exec = async () => ({ code: 0, stdout: 'nftables v0.9.8 (E.D.S.)\n', stderr: '' });
  await assert.rejects(checkNft(old), /needs nft 1\.0\.1 or later, found v0\.9\.8/);
  const ok: Exec = async () => ({ code: 0, stdout: 'nftables v1.0.6 (Lester Gooch #5)\n', stderr: '' });
  assert.equal(await checkNft(ok), 'nftables v1.0.6 (Lester Gooch #5)');
});
