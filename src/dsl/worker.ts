/**
 * An interpreter thread of the worker pool. It takes one job at a time from its parent: parses the agent's
 * source (parsed sources are cached), binds the input, runs the body, and posts `{id, ok, value | error,
 * steps}`. Host calls block this thread (Atomics.wait) until the main thread has answered on the dedicated
 * port, so the interpreter stays synchronous while the main event loop stays free. A run that overstays its
 * wall clock is never interrupted here: the pool terminates the whole thread. Loaded by `worker-pool.ts`;
 * never imported elsewhere.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import type { AgentDecl, FunctionDecl, Program, TypeDef } from "./ast.js";
import { bindParams } from "./bind.js";
import { Interpreter, type HostOp } from "./interpreter.js";
import { parse } from "./parser.js";
import { DslLimit, DslThrow, toPlain } from "./runtime-values.js";

/** Given once, when the thread starts. */
export interface WorkerInit {
  readonly lock: SharedArrayBuffer;
  readonly port: MessagePort;
}

export interface WorkerJob {
  readonly id: number;
  readonly source: string;
  readonly agent: string;
  readonly input: unknown;
  readonly maxSteps: number;
  readonly maxDepth: number;
}

export type WorkerOutcome =
  | { readonly ok: true; readonly value: unknown; readonly steps: number }
  | { readonly ok: false; readonly kind: "limit" | "error" | "input"; readonly message: string; readonly code?: string; readonly steps: number };

export type WorkerReply = WorkerOutcome & { readonly id: number };

export type HostReply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string; readonly code?: string; readonly kind: string };

const init = workerData as WorkerInit;
const lock = new Int32Array(init.lock);

const host = {
  call(op: HostOp, args: Record<string, unknown>): unknown {
    Atomics.store(lock, 0, 0);
    init.port.postMessage({ op, args });
    Atomics.wait(lock, 0, 0);
    const reply = receiveMessageOnPort(init.port)?.message as HostReply | undefined;
    if (!reply) throw new DslLimit("the runtime stopped answering host calls");
    if (reply.ok) return reply.value;
    throw new DslThrow(reply.message, reply.kind, undefined, reply.code);
  },
};

/** A handful of sources (the agents this pool serves) are parsed once each. */
const programs = new Map<string, Program>();

function program(source: string): Program {
  let p = programs.get(source);
  if (!p) {
    p = parse(source).program;
    if (programs.size >= 64) programs.delete(programs.keys().next().value as string);
    programs.set(source, p);
  }
  return p;
}

function run(job: WorkerJob): WorkerOutcome {
  const prog = program(job.source);
  const agent = prog.items.find((i): i is AgentDecl => i.kind === "Agent" && i.name === job.agent);
  const withBlock = agent?.members.find((m) => m.kind === "With");
  if (!agent || !withBlock || withBlock.kind !== "With") {
    return { ok: false, kind: "input", message: `agent '${job.agent}' has no with block to run`, steps: 0 };
  }
  const types = new Map(prog.items.filter((i): i is TypeDef => i.kind === "TypeDef").map((t) => [t.name, t]));
  const fns = agent.members.filter((m): m is FunctionDecl => m.kind === "Function");
  const it = new Interpreter(prog, fns, host, { maxSteps: job.maxSteps, maxDepth: job.maxDepth });
  let bindings;
  try {
    bindings = bindParams(agent.params ?? [], job.input, types);
  } catch (e) {
    return { ok: false, kind: "input", message: (e as Error).message, steps: 0 };
  }
  try {
    const value = it.run(withBlock.body, bindings);
    return { ok: true, value: toPlain(value), steps: it.steps };
  } catch (e) {
    if (e instanceof DslLimit) return { ok: false, kind: "limit", message: e.message, steps: it.steps };
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      return { ok: false, kind: "limit", message: "recursion too deep for the interpreter's stack", steps: it.steps };
    }
    if (e instanceof DslThrow) {
      const where = e.span ? `${e.span.start.line}:${e.span.start.col}: ` : "";
      return { ok: false, kind: "error", message: `${where}${e.message}`, ...(e.code ? { code: e.code } : {}), steps: it.steps };
    }
    throw e;
  }
}

parentPort?.on("message", (job: WorkerJob) => {
  parentPort?.postMessage({ id: job.id, ...run(job) } satisfies WorkerReply);
});
