/**
 * A problem the user can fix. The CLI prints its message as one line, with no
 * stack trace, and exits non-zero. The message says what is wrong and what to do.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The first line of an error's message, for one-line reports. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown error';
}
