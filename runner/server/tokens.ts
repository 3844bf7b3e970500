import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface Principal {
  role: 'learner' | 'instructor';
  /** The learner's id (self-paced mode has one learner, "you"). */
  id: string;
}

/** Bearer tokens, persisted so that a restarted server recognizes the same learners. */
export class TokenStore {
  private tokens = new Map<string, Principal>();
  constructor(private readonly file: string) {}

  async load(): Promise<void> {
    if (!existsSync(this.file)) return;
    const data = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, Principal>;
    this.tokens = new Map(Object.entries(data));
  }

  private async save(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    await writeFile(this.file, JSON.stringify(Object.fromEntries(this.tokens), null, 2), { mode: 0o600 });
  }

  /** The token of a principal, creating it if needed. */
  async issue(p: Principal): Promise<string> {
    for (const [t, q] of this.tokens) if (q.role === p.role && q.id === p.id) return t;
    const t = randomBytes(18).toString('base64url');
    this.tokens.set(t, p);
    await this.save();
    return t;
  }

  /** The principal a token belongs to; constant-time over the stored tokens. */
  verify(token: string | undefined | null): Principal | undefined {
    if (!token) return undefined;
    const given = Buffer.from(token);
    let found: Principal | undefined;
    for (const [t, p] of this.tokens) {
      const b = Buffer.from(t);
      if (b.length === given.length && timingSafeEqual(b, given)) found = p;
    }
    return found;
  }
}

/** The token of a request: `Authorization: Bearer …`, else the `token` query parameter (WebSockets). */
export function requestToken(headers: Record<string, string | string[] | undefined>, url: URL): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  return url.searchParams.get('token') ?? undefined;
}
