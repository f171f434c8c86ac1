/**
 * Test support: read the corpus, strip spans for tree comparison, run a body in-process.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AgentDecl, FunctionDecl } from "./ast.js";
import { Interpreter, type HostOp, type SyncHost } from "./interpreter.js";
import { parse } from "./parser.js";
import { fromPlain, toPlain } from "./runtime-values.js";

export const CORPUS = fileURLToPath(new URL("./corpus/", import.meta.url));

export function corpusFiles(kind: "valid" | "invalid"): { name: string; path: string; source: string }[] {
  const dir = join(CORPUS, kind);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".symbi"))
    .sort()
    .map((name) => ({ name, path: join(dir, name), source: readFileSync(join(dir, name), "utf8") }));
}

/** The tree without positions (and without comments), for equality across formatting. */
export function stripSpans(node: unknown): unknown {
  return JSON.parse(JSON.stringify(node, (k, v: unknown) => (k === "span" || k === "nameSpan" || k === "comments" ? undefined : v)));
}

export interface HostCall {
  readonly op: HostOp;
  readonly args: Record<string, unknown>;
}

/** Runs `body` (the inside of a with block) in-process; host calls are recorded and answered by `answer`. */
export function runBody(
  body: string,
  input: Record<string, unknown> = {},
  answer: (op: HostOp, args: Record<string, unknown>) => unknown = () => null,
  extra = "",
  limits = { maxSteps: 1_000_000, maxDepth: 100 },
): { value: unknown; calls: HostCall[]; steps: number } {
  const params = Object.keys(input)
    .map((k) => `${k}: Any`)
    .join(", ");
  const source = `${extra}\nagent t(${params}) {\n with {\n${body}\n }\n}\n`;
  const { program, diagnostics } = parse(source);
  if (diagnostics.length) throw new Error(diagnostics.map((d) => `${d.span.start.line}:${d.span.start.col}: ${d.message}`).join("\n"));
  const agent = program.items.find((i): i is AgentDecl => i.kind === "Agent") as AgentDecl;
  const w = agent.members.find((m) => m.kind === "With");
  if (!w || w.kind !== "With") throw new Error("no with");
  const calls: HostCall[] = [];
  const host: SyncHost = {
    call(op, args) {
      calls.push({ op, args });
      return answer(op, args);
    },
  };
  const fns = agent.members.filter((m): m is FunctionDecl => m.kind === "Function");
  const it = new Interpreter(program, fns, host, limits);
  const bindings = Object.fromEntries(Object.entries(input).map(([k, v]) => [k, fromPlain(v)]));
  const value = toPlain(it.run(w.body, bindings));
  return { value, calls, steps: it.steps };
}
