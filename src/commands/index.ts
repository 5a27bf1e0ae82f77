// Every `spamgate` sub-command, in the order `spamgate --help` lists them.
import { checkConfigCommand } from './check-config.ts';
import { reloadCommand } from './reload.ts';
import { serveCommand } from './serve.ts';
import { queueCommand } from './queue.ts';
import { quarantineCommand } from './quarantine.ts';
import { classifyCommand } from './classify.ts';
import { dkimKeygenCommand } from './dkim-keygen.ts';
import { explainCommand } from './explain.ts';
import { forgetCommand } from './forget.ts';
import { fuzzyCommand } from './fuzzy.ts';
import { reputationCommand } from './reputation.ts';
import { masscheckCommand } from './masscheck.ts';
import { trainCommand } from './train.ts';
import type { Command } from './types.ts';
import { usersCommand } from './users.ts';

export const COMMANDS: Command[] = [serveCommand, checkConfigCommand, reloadCommand, queueCommand, quarantineCommand, usersCommand, dkimKeygenCommand, trainCommand, forgetCommand, fuzzyCommand, reputationCommand, classifyCommand, explainCommand, masscheckCommand];
