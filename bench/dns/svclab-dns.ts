// `svclab dns run|serve` as one JavaScript file, bundled like the in-cluster component
// (components/dns): what the benchmark runs, so that tsx's load-time compiling of the
// TypeScript sources weighs on neither memory nor CPU.
import { Command } from 'commander';
import { registerDns } from '../../runner/cli/commands/dns.ts';

const program = new Command('svclab').exitOverride();
registerDns(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`svclab: ${(err as Error).message}`);
  process.exit(1);
}
