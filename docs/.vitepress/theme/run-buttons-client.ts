// Clicks on a lesson's "run in terminal" buttons (added by ../run-buttons.ts) go to the
// page's LabTerminal; with no terminal on the page, the command is copied instead.
import { runInTerminal } from './runner-client';

let installed = false;

export function installRunButtons(): void {
  if (installed || typeof window === 'undefined') return;
  installed = true;
  document.addEventListener('click', (e) => {
    const button = (e.target as HTMLElement | null)?.closest?.('button.svclab-run') as HTMLButtonElement | null;
    if (!button) return;
    const command = button.dataset.command ?? '';
    if (document.querySelector('.svclab-terminal')) runInTerminal(command);
    else void navigator.clipboard?.writeText(command);
  });
}
