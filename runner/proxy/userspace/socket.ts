// What the userspace proxier needs from a service port's proxy socket, TCP or UDP.

/** The endpoint ("ip:port") for a new connection from a client IP; null when there is none. */
export type PickEndpoint = (clientIP: string, resetAffinity: boolean) => string | null;

export interface ProxySocket {
  /** The local port it listens on (the proxy port the portal rules redirect to). */
  readonly port: number;
  /** Stops it; "close" also ends the connections in progress. */
  close(connections?: 'keep' | 'close'): Promise<void>;
  /** These endpoints went away: drop what is bound to them (UDP sessions; TCP connections stay). */
  endpointsRemoved(endpoints: readonly string[]): void;
}

/** "10.0.0.1:80" or "[fd00::1]:80" to host and port. */
export function splitEndpoint(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(endpoint.slice(i + 1)) };
}
