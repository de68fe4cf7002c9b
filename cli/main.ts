/**
 * `iot-ingest`: the operators' and analysts' command. Each command lives in its own file under
 * `cli/commands/` and registers itself on the program here.
 */
import { Command, CommanderError } from 'commander';
import { register as registerStatus } from './commands/status.js';
import { register as registerQuery } from './commands/query.js';
import { register as registerDevices } from './commands/devices.js';
import { register as registerCold } from './commands/cold.js';
import { terminalText } from './output.js';
import { register as registerAlerts } from './commands/alerts.js';

export function buildProgram(): Command {
  const program = new Command('iot-ingest')
    .description('Query and operate an iot-ingest pipeline (the local devstack by default).')
    .showHelpAfterError()
    .exitOverride();
  registerStatus(program);
  registerQuery(program);
  registerDevices(program);
  registerCold(program);
  registerAlerts(program);
  return program;
}

/** Runs the CLI; returns the exit code. Errors are one line on stderr, never a stack trace. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    // Messages can quote data (SQL errors, names from a store): shown, never interpreted by the terminal.
    process.stderr.write(`iot-ingest: ${terminalText((err as Error).message)}\n`);
    if (process.env.IOT_INGEST_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}
