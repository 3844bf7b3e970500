import type { Command} from 'commander';
import { Option } from 'commander';
import { requireDocker } from '../../docker.ts';
import { ensureImages, resolveSource, type SourceChoice } from '../../images/build.ts';
import { cacheDir } from '../../images/cache.ts';
import { Status } from '../status.ts';

function verboseLog(verbose: boolean): ((l: string) => void) | undefined {
  return verbose ? (l) => process.stderr.write(`   ${l}\n`) : undefined;
}

export function registerImages(program: Command): void {
  const images = program.command('images').description('build the images a svclab cluster needs (online: pull; offline: build everything locally)');

  images
    .command('build')
    .description('build or reuse every image: the kind node image, the runtime image and one image per component')
    .addOption(new Option('--source <source>', 'where images come from').choices(['auto', 'online', 'offline']).default('auto'))
    .option('-v, --verbose', 'show build output', false)
    .action(async (opts: { source: SourceChoice; verbose: boolean }) => {
      const docker = await requireDocker();
      const status = new Status();
      const source = await resolveSource(docker, opts.source, status);
      const set = await ensureImages(docker, { source, status, onLine: verboseLog(opts.verbose) });
      printSet(set);
    });

  images
    .command('build-offline')
    .description('build every image with no registry: Debian base by debootstrap, Kubernetes and etcd from the Go module proxy, the kind node image assembled locally (cached by content)')
    .option('-v, --verbose', 'show build output', false)
    .action(async (opts: { verbose: boolean }) => {
      const docker = await requireDocker();
      const set = await ensureImages(docker, { source: 'offline', status: new Status(), onLine: verboseLog(opts.verbose) });
      printSet(set);
    });

  images
    .command('cache-dir')
    .description('print the directory where svclab caches build outputs')
    .action(() => console.log(cacheDir()));
}

function printSet(set: { source: string; nodeImage: string; components: Record<string, string> }): void {
  console.log(`source: ${set.source}`);
  console.log(`node:   ${set.nodeImage}`);
  for (const [name, ref] of Object.entries(set.components)) console.log(`${name.padEnd(7)} ${ref}`);
}
