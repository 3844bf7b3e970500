// The small Markdown of lab texts (task text, hints, solutions; labs/README.md): paragraphs,
// "-" / "1." lists, ``` fenced code, `code`, **bold**, *emphasis* and [links](url). Everything
// is HTML-escaped first, so a lab text can never inject markup into the page. Shell code
// blocks get the same "run in terminal" button as the lessons' (theme/run-buttons-client.ts).
import { commandOf } from '../run-buttons.ts';

const RUNNABLE = new Set(['sh', 'bash', 'shell']);

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Inline markup of one (already joined) run of text. */
export function renderInline(text: string): string {
  // Code spans first, kept aside so that nothing inside them is formatted.
  const codes: string[] = [];
  let s = text.replace(/`([^`]+)`/g, (_m, c: string) => {
    codes.push(`<code>${escapeHtml(c)}</code>`);
    return `\uE000${codes.length - 1}\uE000`;
  });
  s = escapeHtml(s);
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (m, label: string, href: string) => {
    const url = href.replace(/&amp;/g, '&');
    if (!/^(https?:\/\/|\/|#)/.test(url)) return m;
    return `<a href="${escapeHtml(url)}"${url.startsWith('http') ? ' target="_blank" rel="noreferrer"' : ''}>${label}</a>`;
  });
  s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
  s = s.replace(/(^|[^*\w])\*([^*\s][^*]*)\*(?![*\w])/g, '$1<em>$2</em>');
  return s.replace(/\uE000(\d+)\uE000/g, (_m, i: string) => codes[Number(i)]!);
}

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]/u;

/** Joins a paragraph's source lines: with a space, except between two CJK characters (Chinese has no spaces). */
export function joinLines(lines: string[]): string {
  let out = '';
  for (const line of lines) {
    if (!out) out = line;
    else out += (CJK.test(out.at(-1)!) && CJK.test(line[0]!) ? '' : ' ') + line;
  }
  return out;
}

type Block = { kind: 'p'; lines: string[] } | { kind: 'ul' | 'ol'; items: string[][] } | { kind: 'code'; lang: string; lines: string[] };

const BULLET = /^\s{0,3}[-*]\s+(.*)$/;
const NUMBERED = /^\s{0,3}\d+[.)]\s+(.*)$/;

function blocks(md: string): Block[] {
  const out: Block[] = [];
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  let cur: Block | undefined;
  const flush = () => {
    if (cur) out.push(cur);
    cur = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^\s*```\s*([\w-]*)/.exec(line);
    if (fence) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) code.push(lines[i]!);
      out.push({ kind: 'code', lang: fence[1] ?? '', lines: code });
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    const b = BULLET.exec(line);
    const n = b ? undefined : NUMBERED.exec(line);
    if (b || n) {
      const kind = b ? 'ul' : 'ol';
      if (cur?.kind !== kind) {
        flush();
        cur = { kind, items: [] };
      }
      cur.items.push([(b ?? n)![1]!]);
      continue;
    }
    if (cur && (cur.kind === 'ul' || cur.kind === 'ol') && /^\s+\S/.test(line)) {
      cur.items[cur.items.length - 1]!.push(line.trim());
      continue;
    }
    if (cur?.kind !== 'p') {
      flush();
      cur = { kind: 'p', lines: [] };
    }
    cur.lines.push(line.trim());
  }
  flush();
  return out;
}

/** The HTML of a lab text. */
export function renderMarkdown(md: string, opts: { runLabel?: string } = {}): string {
  return blocks(md)
    .map((b) => {
      if (b.kind === 'p') return `<p>${renderInline(joinLines(b.lines))}</p>`;
      if (b.kind !== 'code') return `<${b.kind}>${b.items.map((it) => `<li>${renderInline(joinLines(it))}</li>`).join('')}</${b.kind}>`;
      const code = b.lines.join('\n');
      const pre = `<pre class="lab-code"><code>${escapeHtml(code)}</code></pre>`;
      const command = RUNNABLE.has(b.lang) ? commandOf(code) : '';
      if (!command || !opts.runLabel) return pre;
      const label = escapeHtml(opts.runLabel);
      return `<div class="svclab-runnable lab-runnable">${pre}<button type="button" class="svclab-run" data-command="${escapeHtml(command)}" title="${label}" aria-label="${label}">▶ ${label}</button></div>`;
    })
    .join('');
}
