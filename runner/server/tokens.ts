export interface Principal {
  /** admin: runs the server (creates classes); instructor: one class; learner: one learner. */
  role: 'learner' | 'instructor' | 'admin';
  /** The learner's id, the instructor's class id, or "admin". */
  id: string;
}

/** The token of a request: `Authorization: Bearer …`, else the `token` query parameter (WebSockets). */
export function requestToken(headers: Record<string, string | string[] | undefined>, url: URL): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  return url.searchParams.get('token') ?? undefined;
}
