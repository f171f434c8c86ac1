/**
 * The `symbiont` command.
 */
import { Command, CommanderError } from "commander";
import { isRuntimeError } from "../core/errors.js";
import { VERSION } from "../core/version.js";
import { registerStatus } from "./status.js";
import { registerDsl } from "./dsl.js";
import { registerAudit } from "./audit.js";
import { registerUp } from "./up.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("symbiont")
    .description("Symbiont Runtime: a secure runtime for autonomous AI agents")
    .version(VERSION, "-V, --version")
    .showHelpAfterError();
  registerUp(program);
  registerStatus(program);
  registerDsl(program);
  registerAudit(program);
  return program;
}

/** Runs the CLI; returns the process exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const message = isRuntimeError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`symbiont: ${message}\n`);
    return 1;
  }
}
