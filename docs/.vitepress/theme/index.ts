import DefaultTheme from 'vitepress/theme';
import { h, type App, type Component } from 'vue';
import ClassBanner from './components/ClassBanner.vue';
import { installRunButtons } from './run-buttons-client';
import { runnerToken } from './runner-client';
import './style.css';

const components = import.meta.glob<{ default: Component }>('./components/*.vue', { eager: true });

export default {
  extends: DefaultTheme,
  // The classroom banner (instructor messages, watching, take-over) on every page.
  Layout: () => h(DefaultTheme.Layout, null, { 'layout-bottom': () => h(ClassBanner) }),
  enhanceApp({ app }: { app: App }) {
    for (const [path, mod] of Object.entries(components)) {
      const name = path.split('/').pop()!.replace(/\.vue$/, '');
      app.component(name, mod.default);
    }
    if (typeof window !== 'undefined') {
      // The link svclab prints carries the learner's token (?token=…) on whatever page it
      // opens: keep it before any navigation, and take it out of the address bar.
      runnerToken();
      installRunButtons();
    }
  },
};
