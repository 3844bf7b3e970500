// `svclab proxy render --proxy-mode userspace`: the portal rules one sync writes for a
// fixed set of API objects. A running proxy gets its proxy ports from the kernel (or
// --proxy-port-range) as it opens each socket; a render has no sockets, so it uses
// placeholders: the n-th TCP or UDP service port, in namespace/name:port/PROTOCOL order,
// gets port PLACEHOLDER_BASE + n (the start of Linux's default ephemeral port range,
// where the kernel would pick them). Same objects, same output.
import { loadSnapshot, type KubeObjectLike } from '../snapshot.ts';
import type { ProxySettings } from '../options.ts';
import type { Warn } from '../types.ts';
import { portalOptionsFor } from './addresses.ts';
import { proxiable, renderPortals, type PortalRenderResult } from './portals.ts';
import type { ServicePortInfo } from '../service-port.ts';

export const PLACEHOLDER_BASE = 32768;

export function placeholderProxyPorts(servicePorts: readonly ServicePortInfo[]): Map<string, number> {
  const ports = new Map<string, number>();
  for (const sp of servicePorts) if (proxiable(sp)) ports.set(sp.key, PLACEHOLDER_BASE + (ports.size % (65536 - PLACEHOLDER_BASE)));
  return ports;
}

export function renderUserspaceSnapshot(objects: KubeObjectLike[], settings: ProxySettings, warn: Warn): PortalRenderResult {
  const { state, node } = loadSnapshot(objects, settings, warn);
  const servicePorts = state.servicePorts();
  for (const sp of servicePorts) if (!proxiable(sp)) warn(`userspace-proto:${sp.key}`, `${sp.name} is ${sp.protocol}: the userspace proxy carries only TCP and UDP; no rules for it`);
  return renderPortals(servicePorts, placeholderProxyPorts(servicePorts), portalOptionsFor(settings, node, settings.localAddresses));
}
