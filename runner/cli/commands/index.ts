import type { Command } from 'commander';
import { registerClass } from './class.ts';
import { registerCluster } from './cluster.ts';
import { registerDns } from './dns.ts';
import { registerGrade } from './grade.ts';
import { registerImages } from './images.ts';
import { registerLab } from './lab.ts';
import { registerServe } from './serve.ts';
import { registerUp } from './up.ts';
import { registerProxy } from './proxy.ts';

/** Each subcommand module registers itself on the root program. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerUp, registerCluster, registerImages, registerServe, registerClass, registerProxy, registerDns, registerLab, registerGrade];
