#!/usr/bin/env node
// Launcher for the installed `spamgate` command: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';
register();
await import('./cli.ts');
