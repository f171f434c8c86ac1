/**
 * The interpreter's thread. It parses the agent's source, binds the task input, runs the body, and posts
 * `{ok, value | error, steps}` to its parent. Host calls block this thread (Atomics.wait) until the main
 * thread has answered on the dedicated port, so the interpreter stays synchronous while the main event loop
 * stays free. Loaded by `runner.ts`; never imported elsewhere.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import type { AgentDecl, FunctionDecl, TypeDef } from "./ast.js";
import { bindParams } from "./bind.js";
import { Interpreter, type HostOp } from "./interpreter.js";
import { parse } from "./parser.js";
import { DslLimit, DslThrow, toPlain } from "./runtime-values.js";

export interface WorkerInput {
  readonly source: string;
  readonly agent: string;
  readonly input: unknown;
  readonly maxSteps: number;
  readonly maxDepth: number;
  readonly lock: SharedArrayBuffer;
  readonly port: MessagePort;
}

export type WorkerReply =
  | { readonly ok: true; readonly value: unknown; readonly steps: number }
  | { readonly ok: false; readonly kind: "limit" | "error" | "input"; readonly message: string; readonly code?: string; readonly steps: number };

export type HostReply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string; readonly code?: string; readonly kind: string };

const data = workerData as WorkerInput;
const lock = new Int32Array(data.lock);

const host = {
  call(op: HostOp, args: Record<string, unknown>): unknown {
    Atomics.store(lock, 0, 0);
    data.port.postMessage({ op, args });
    Atomics.wait(lock, 0, 0);
    const reply = receiveMessageOnPort(data.port)?.message as HostReply | undefined;
    if (!reply) throw new DslLimit("the runtime stopped answering host calls");
    if (reply.ok) return reply.value;
    throw new DslThrow(reply.message, reply.kind, undefined, reply.code);
  },
};

function run(): WorkerReply {
  const { program } = parse(data.source);
  const agent = program.items.find((i): i is AgentDecl => i.kind === "Agent" && i.name === data.agent);
  const withBlock = agent?.members.find((m) => m.kind === "With");
  if (!agent || !withBlock || withBlock.kind !== "With") {
    return { ok: false, kind: "input", message: `agent '${data.agent}' has no with block to run`, steps: 0 };
  }
  const types = new Map(program.items.filter((i): i is TypeDef => i.kind === "TypeDef").map((t) => [t.name, t]));
  const fns = agent.members.filter((m): m is FunctionDecl => m.kind === "Function");
  const it = new Interpreter(program, fns, host, { maxSteps: data.maxSteps, maxDepth: data.maxDepth });
  let bindings;
  try {
    bindings = bindParams(agent.params ?? [], data.input, types);
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

parentPort?.postMessage(run());
