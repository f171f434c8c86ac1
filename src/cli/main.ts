/**
 * The `symbiont` command: `up` runs the runtime; the other commands talk to a running one over its API
 * (`status`, `check`, `fmt`, `run` and `audit verify` work offline).
 */
import { Command, CommanderError } from "commander";
import { isRuntimeError } from "../core/errors.js";
import { VERSION } from "../core/version.js";
import { ApiCallError } from "./client.js";
import { processIo, type Io } from "./output.js";
import { registerRemote } from "./remote.js";
import { registerStatus } from "./status.js";
import { registerDsl } from "./dsl.js";
import { registerAudit } from "./audit.js";
import { registerAdmin } from "./admin.js";
import { registerUp } from "./up.js";
import { registerOperations } from "./operations.js";

export function buildProgram(io: Io = processIo): Command {
  const program = new Command();
  program
    .name("symbiont")
    .description("Symbiont Runtime: a secure runtime for autonomous AI agents")
    .version(VERSION, "-V, --version")
    .showHelpAfterError()
    // Set before adding commands so that subcommands inherit them.
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  registerUp(program);
  registerRemote(program, io);
  registerStatus(program);
  registerDsl(program);
  registerAudit(program, io);
  registerOperations(program, io);
  registerAdmin(program, io);
  return program;
}

/** Runs the CLI; returns the process exit code (0 ok, 1 failure, 2 usage error as commander reports). */
export async function run(argv: readonly string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const message =
      err instanceof ApiCallError || isRuntimeError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    io.err(`symbiont: ${message}\n`);
    return 1;
  }
}
