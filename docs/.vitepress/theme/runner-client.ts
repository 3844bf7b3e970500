// The lesson pages' connection to the svclab runner that serves them: the learner's
// token, JSON calls, and a self-reconnecting event stream. Browser-only.

const TOKEN_KEY = 'svclab.token';

/** The learner's token: taken from ?token= once (then removed from the address bar) and kept in localStorage. */
export function runnerToken(): string | null {
  if (typeof window === 'undefined') return null;
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    localStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.toString());
  }
  return localStorage.getItem(TOKEN_KEY);
}

export function wsUrl(path: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}?token=${encodeURIComponent(runnerToken() ?? '')}`;
}

export class RunnerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${runnerToken() ?? ''}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      body: init.body ? JSON.stringify(init.body) : undefined,
    });
  } catch {
    throw new RunnerError(0, 'runner unreachable');
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new RunnerError(res.status, body.error ?? res.statusText);
  return body as T;
}

export type Lang = 'en' | 'zh';
export type Text = Partial<Record<Lang, string>>;
export const pick = (t: Text | string | undefined, lang: Lang): string => (typeof t === 'string' ? t : (t?.[lang] ?? t?.en ?? ''));

export interface ClusterEvent {
  type: 'cluster';
  state: 'absent' | 'starting' | 'running' | 'broken';
  message?: string;
  progress?: string[];
}

export interface TaskState {
  id: string;
  state: 'pending' | 'failing' | 'passed';
  reason?: Text;
  passedAt?: string;
}

export interface TasksEvent {
  type: 'tasks';
  lab: string;
  tasks: TaskState[];
}

export type RunnerEvent = ClusterEvent | TasksEvent | { type: string; [k: string]: unknown };

type Listener = (e: RunnerEvent) => void;
type ConnListener = (connected: boolean) => void;

/** One shared event socket per page, reconnecting with backoff (1 s doubling to 15 s). */
class EventStream {
  private ws?: WebSocket;
  private listeners = new Set<Listener>();
  private connListeners = new Set<ConnListener>();
  private backoff = 1000;
  connected = false;

  subscribe(l: Listener, c?: ConnListener): () => void {
    this.listeners.add(l);
    if (c) {
      this.connListeners.add(c);
      c(this.connected);
    }
    if (!this.ws) this.open();
    return () => {
      this.listeners.delete(l);
      if (c) this.connListeners.delete(c);
    };
  }

  private setConnected(v: boolean) {
    this.connected = v;
    for (const c of this.connListeners) c(v);
  }

  private open() {
    const ws = new WebSocket(wsUrl('/api/events'));
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 1000;
      this.setConnected(true);
    };
    ws.onmessage = (m) => {
      try {
        const e = JSON.parse(String(m.data)) as RunnerEvent;
        for (const l of this.listeners) l(e);
      } catch {
        // not an event
      }
    };
    ws.onclose = () => {
      this.setConnected(false);
      setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 15_000);
    };
  }
}

let stream: EventStream | undefined;
export function events(): EventStream {
  stream ??= new EventStream();
  return stream;
}

/** Lesson code blocks ask the page's terminal to run a command through this event. */
export const RUN_EVENT = 'svclab:run';
export function runInTerminal(command: string): void {
  window.dispatchEvent(new CustomEvent(RUN_EVENT, { detail: command }));
}
