/**
 * `symbiont check FILE…`, `symbiont fmt FILE…` and `symbiont run FILE`: the agent DSL from the command line.
 * Problems print as `file:line:col: message`, one per line, and make the command exit 1.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { loadConfig } from "../core/config/index.js";
import { createLogger } from "../core/logger.js";
import { extract, format, formatDiagnostic, parse } from "../dsl/index.js";
import { createRuntime } from "../runtime.js";

function fail(): never {
  throw new CommanderError(1, "symbiont.dsl", "");
}

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    process.stderr.write(`${file}: cannot read: ${(e as Error).message}\n`);
    return fail();
  }
}

/** Parses and extracts every file; prints every problem; returns the number of problems. */
export function check(files: readonly string[], out: (line: string) => void, err: (line: string) => void): number {
  let problems = 0;
  for (const f of files) {
    let source: string;
    try {
      source = readFileSync(f, "utf8");
    } catch (e) {
      err(`${f}: cannot read: ${(e as Error).message}`);
      problems++;
      continue;
    }
    const parsed = parse(source);
    let ds = parsed.diagnostics;
    let summary = "";
    if (ds.length === 0) {
      const ex = extract(parsed.program, source);
      ds = ex.diagnostics;
      summary = `${ex.file.agents.length} agent(s), ${ex.file.schedules.length} schedule(s)`;
    }
    for (const d of ds) err(formatDiagnostic(f, d));
    problems += ds.length;
    if (ds.length === 0) out(`${f}: ok (${summary})`);
  }
  return problems;
}

export function registerDsl(program: Command): void {
  program
    .command("check")
    .description("parse and validate .symbi files (exit 1 with file:line:col: message on problems)")
    .argument("<files...>", ".symbi files")
    .action((files: string[]) => {
      const n = check(files, (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`));
      if (n > 0) fail();
    });

  program
    .command("fmt")
    .description("print .symbi files in canonical layout (or rewrite them with --write)")
    .argument("<files...>", ".symbi files")
    .option("-w, --write", "rewrite the files in place")
    .option("--check", "exit 1 when a file is not in canonical layout")
    .action((files: string[], opts: { write?: boolean; check?: boolean }) => {
      let bad = false;
      for (const f of files) {
        const source = read(f);
        const parsed = parse(source);
        if (parsed.diagnostics.length) {
          for (const d of parsed.diagnostics) process.stderr.write(`${formatDiagnostic(f, d)}\n`);
          bad = true;
          continue;
        }
        const text = format(parsed.program);
        if (opts.check) {
          if (text !== source) {
            process.stderr.write(`${f}: not formatted\n`);
            bad = true;
          }
        } else if (opts.write) {
          if (text !== source) writeFileSync(f, text);
        } else {
          process.stdout.write(text);
        }
      }
      if (bad) fail();
    });

  program
    .command("run")
    .description("run one agent's body once and print its result as JSON")
    .argument("<file>", ".symbi file")
    .option("-a, --agent <name>", "the agent to run (needed when the file defines several)")
    .option("-i, --input <json>", "task input as a JSON object", "{}")
    .option("-c, --config <file>", "YAML or JSON runtime config (dsl.tools, dsl.llm, limits)")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent", "warn")
    .action(async (file: string, opts: { agent?: string; input: string; config?: string; logLevel: string }) => {
      let input: unknown;
      try {
        input = JSON.parse(opts.input);
      } catch (e) {
        process.stderr.write(`--input is not JSON: ${(e as Error).message}\n`);
        return fail();
      }
      const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), overrides: { log_level: opts.logLevel } });
      const logger = createLogger({ level: config.log_level, pretty: false, destination: process.stderr });
      const runtime = await createRuntime({ config, logger });
      try {
        const compiled = runtime.dsl.compile(read(file), file);
        const result = await runtime.dsl.run(compiled, { ...(opts.agent ? { agent: opts.agent } : {}), input });
        process.stdout.write(`${JSON.stringify(result.value, null, 2)}\n`);
      } finally {
        await runtime.shutdown();
      }
    });
}
