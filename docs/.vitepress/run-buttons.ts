// A markdown-it plugin: every ```sh / ```bash / ```shell code block in a lesson gets a
// "run in terminal" button next to VitePress's own copy button. The button carries the
// command; theme/run-buttons-client.ts sends it to the page's <LabTerminal>.
import type { MarkdownRenderer as MarkdownIt } from 'vitepress';

const RUNNABLE = new Set(['sh', 'bash', 'shell']);

/** The command a block runs: its lines without a leading "$ " prompt, comments dropped. */
export function commandOf(code: string): string {
  return code
    .split('\n')
    .map((l) => l.replace(/^\s*\$ /, ''))
    .filter((l) => l.trim() !== '' && !/^\s*#/.test(l))
    .join('\n');
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function runButtons(md: MarkdownIt): void {
  const fence = md.renderer.rules.fence!;
  md.renderer.rules.fence = (tokens, idx, options, env, self) => {
    const html = fence(tokens, idx, options, env, self);
    const token = tokens[idx]!;
    const lang = token.info.trim().split(/\s+/)[0]!.replace(/\{.*$/, '');
    if (!RUNNABLE.has(lang)) return html;
    const command = commandOf(token.content);
    if (!command) return html;
    const label = (env as { relativePath?: string }).relativePath?.startsWith('zh/') ? '在终端中运行' : 'Run in terminal';
    return `<div class="svclab-runnable">${html}<button type="button" class="svclab-run" data-command="${escapeAttr(command)}" title="${label}" aria-label="${label}">▶ ${label}</button></div>`;
  };
}
