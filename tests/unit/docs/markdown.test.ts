// The Markdown of lab texts as the lesson pages render it (docs/.vitepress/theme/markdown.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinLines, renderInline, renderMarkdown } from '../../../docs/.vitepress/theme/markdown.ts';

test('inline markup: code, bold, emphasis, links', () => {
  const cases: [string, string][] = [
    ['Create the Deployment **`web`**: **3** replicas', 'Create the Deployment <strong><code>web</code></strong>: <strong>3</strong> replicas'],
    ['use `kubectl get pods -l app=web`', 'use <code>kubectl get pods -l app=web</code>'],
    ['`a **not bold** b`', '<code>a **not bold** b</code>'],
    ['an *emphasised* word, 2 * 3 * 4', 'an <em>emphasised</em> word, 2 * 3 * 4'],
    ['see [the docs](https://kubernetes.io/docs/) now', 'see <a href="https://kubernetes.io/docs/" target="_blank" rel="noreferrer">the docs</a> now'],
    ['[local](/lessons/intro)', '<a href="/lessons/intro">local</a>'],
    ['[bad](javascript:alert(1))', '[bad](javascript:alert(1))'],
    ['中文 **粗体** 与 `代码`', '中文 <strong>粗体</strong> 与 <code>代码</code>'],
  ];
  for (const [md, html] of cases) assert.equal(renderInline(md), html, md);
});

test('markup in a lab text never reaches the page as markup', () => {
  const html = renderMarkdown('<img src=x onerror=alert(1)> and `<script>`\n\n```sh\necho "<b>" && rm -rf /tmp/x\n```');
  assert.doesNotMatch(html, /<img|<script|<b>/);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /<code>&lt;script&gt;<\/code>/);
});

test('paragraphs, lists and fenced code', () => {
  const md = [
    'Expose `web` as a Service. Then look:',
    '',
    '- `kubectl get service web`: the cluster IP;',
    '- `kubectl get endpointslices -o wide`: the three pod',
    '  addresses, with port 8080.',
    '',
    '1. first',
    '2. second',
    '',
    '```sh',
    '$ kubectl get svc',
    '# a comment',
    'kubectl get endpointslices',
    '```',
    'After the block.',
  ].join('\n');
  assert.equal(
    renderMarkdown(md),
    '<p>Expose <code>web</code> as a Service. Then look:</p>' +
      '<ul><li><code>kubectl get service web</code>: the cluster IP;</li><li><code>kubectl get endpointslices -o wide</code>: the three pod addresses, with port 8080.</li></ul>' +
      '<ol><li>first</li><li>second</li></ol>' +
      '<pre class="lab-code"><code>$ kubectl get svc\n# a comment\nkubectl get endpointslices</code></pre>' +
      '<p>After the block.</p>',
  );
});

test('shell blocks get a run button carrying the command without prompts and comments', () => {
  const html = renderMarkdown('```sh\n$ kubectl get svc "web"\n# look at it\nkubectl get endpointslices\n```\n\n```yaml\nkind: Service\n```', { runLabel: 'Run in terminal' });
  assert.match(html, /<div class="svclab-runnable lab-runnable"><pre class="lab-code">/);
  assert.match(html, /data-command="kubectl get svc &quot;web&quot;\nkubectl get endpointslices"/);
  assert.equal((html.match(/svclab-run"/g) ?? []).length, 1, 'only the shell block is runnable');
});

test('Chinese lines join without a space, other lines with one', () => {
  assert.equal(joinLines(['以及它们', '分别运行在哪个节点上']), '以及它们分别运行在哪个节点上');
  assert.equal(joinLines(['声明容器端口', '**8080**。']), '声明容器端口 **8080**。');
  assert.equal(joinLines(['三个 Pod 的地址，', '端口是 8080。']), '三个 Pod 的地址，端口是 8080。');
  assert.equal(joinLines(['with', 'container port']), 'with container port');
  assert.equal(renderMarkdown('就靠这个\n标签选中它们。'), '<p>就靠这个标签选中它们。</p>');
});
