import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../errors.ts';

/**
 * Loads a kubeconfig: the given file, else $KUBECONFIG, else the in-cluster service
 * account (inside a pod), else ~/.kube/config. A missing file is a one-line UserError.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  const file = path ?? process.env.KUBECONFIG;
  if (file) {
    if (!existsSync(file)) throw new UserError(`kubeconfig ${file} does not exist: run 'svclab cluster up' or pass --kubeconfig`);
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new UserError(`kubeconfig ${file} cannot be read: ${(err as Error).message.split('\n')[0]}`);
    }
  } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) throw new UserError('no Kubernetes cluster configured: run \'svclab cluster up\' or pass --kubeconfig');
  return kc;
}
