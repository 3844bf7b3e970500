import { Command, CommanderError } from 'commander';
import { UserError, oneLine } from '../errors.ts';
import { commands } from './commands/index.ts';

export function buildProgram(): Command {
  const program = new Command('svclab')
    .description('Learn how Kubernetes Services really work, in a real kind cluster running svclab\'s own kube-proxy and DNS.')
    .version(process.env.npm_package_version ?? '0.1.0', '--version', 'print the svclab version')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false })
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

/** Runs the CLI with argv (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version are "errors" in commander's exitOverride mode.
      return err.exitCode;
    }
    if (err instanceof UserError) {
      process.stderr.write(`svclab: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`svclab: ${oneLine(err)}\n`);
    if (process.env.SVCLAB_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    return 1;
  }
}
