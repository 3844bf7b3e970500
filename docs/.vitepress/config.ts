import { defineConfig, type DefaultTheme } from 'vitepress';
import { runButtons } from './run-buttons';

/** The lessons, in order; the same slugs in both languages. */
const lessons: [slug: string, en: string, zh: string][] = [
  ['intro', 'What a Service is', 'Service 是什么'],
  ['clusterip', 'ClusterIP and selectors', 'ClusterIP 与选择器'],
  ['manual-endpoints', 'Services without selectors', '没有选择器的 Service'],
  ['iptables-chains', 'The iptables chain walk', 'iptables 规则链'],
  ['nodeport', 'NodePort', 'NodePort'],
  ['loadbalancer', 'LoadBalancer', 'LoadBalancer'],
  ['headless-dns', 'Headless Services and DNS', 'Headless Service 与 DNS'],
  ['externalname', 'ExternalName', 'ExternalName'],
  ['env-discovery', 'Discovery by environment variables', '环境变量服务发现'],
  ['affinity-local', 'Session affinity and local traffic', '会话保持与本地流量'],
  ['proxy-modes', 'kube-proxy modes', 'kube-proxy 的工作模式'],
];

const sidebar = (lang: 'en' | 'zh'): DefaultTheme.SidebarItem[] => [
  {
    text: lang === 'en' ? 'Lessons' : '课程',
    items: lessons.map(([slug, en, zh]) => ({ text: lang === 'en' ? en : zh, link: `${lang === 'en' ? '' : '/zh'}/lessons/${slug}` })),
  },
  {
    text: lang === 'en' ? 'Classroom' : '课堂',
    items: [
      { text: lang === 'en' ? 'Join a class' : '加入班级', link: `${lang === 'en' ? '' : '/zh'}/join` },
      { text: lang === 'en' ? 'Instructor dashboard' : '教师面板', link: `${lang === 'en' ? '' : '/zh'}/instructor` },
      { text: lang === 'en' ? 'Running a large class' : '开设大班课', link: `${lang === 'en' ? '' : '/zh'}/classroom` },
    ],
  },
];

/**
 * Search tokens: words as usual, and for Chinese (and other CJK) runs, which have no
 * spaces, every character and every pair of neighbouring characters, so that a search
 * for "服务" finds the lessons that use it.
 */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (const part of text.split(/[\s\p{P}\p{S}]+/u)) {
    if (!part) continue;
    const runs = part.split(/([\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+)/u);
    for (const run of runs) {
      if (!run) continue;
      if (/^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+$/u.test(run)) {
        const chars = [...run];
        for (let i = 0; i < chars.length; i++) {
          tokens.push(chars[i]!);
          if (i + 1 < chars.length) tokens.push(chars[i]! + chars[i + 1]!);
        }
      } else tokens.push(run);
    }
  }
  return tokens;
}

export default defineConfig({
  title: 'svclab',
  description: 'Learn how Kubernetes Services really work, in a real cluster.',
  cleanUrls: true,
  lastUpdated: false,
  markdown: {
    config: (md) => md.use(runButtons),
  },
  themeConfig: {
    search: {
      provider: 'local',
      options: {
        miniSearch: {
          options: { tokenize },
          searchOptions: { tokenize, prefix: true, fuzzy: 0.1, combineWith: 'AND' },
        },
        locales: {
          zh: {
            translations: {
              button: { buttonText: '搜索', buttonAriaLabel: '搜索' },
              modal: { noResultsText: '没有找到结果', resetButtonTitle: '清除', footer: { selectText: '选择', navigateText: '切换', closeText: '关闭' } },
            },
          },
        },
      },
    },
  },
  locales: {
    root: {
      label: 'English',
      lang: 'en',
      themeConfig: {
        nav: [
          { text: 'Lessons', link: '/lessons/intro' },
          { text: 'Classroom', link: '/classroom' },
        ],
        sidebar: sidebar('en'),
      },
    },
    zh: {
      label: '简体中文',
      lang: 'zh-CN',
      link: '/zh/',
      themeConfig: {
        nav: [
          { text: '课程', link: '/zh/lessons/intro' },
          { text: '课堂', link: '/zh/classroom' },
        ],
        sidebar: sidebar('zh'),
        outline: { label: '本页目录' },
        docFooter: { prev: '上一课', next: '下一课' },
        darkModeSwitchLabel: '外观',
        sidebarMenuLabel: '菜单',
        returnToTopLabel: '回到顶部',
        langMenuLabel: '切换语言',
      },
    },
  },
});
