/**
 * The agent side of the protocol for agents written in TypeScript/JavaScript: read tasks and messages from
 * stdin, answer on stdout. An agent is a program calling `runAgent` with its handlers.
 *
 * @example
 * await runAgent({
 *   async onTask(input, ctx) {
 *     ctx.send(peerId, "greetings", { hello: input });
 *     return { echoed: input };
 *   },
 * });
 */
import { encodeLine, LineSplitter, parseRuntimeLine, type AgentToRuntime, type LogLevel } from "./protocol.js";

export interface AgentContext {
  /** The task being handled (absent in onMessage). */
  readonly task_id?: string;
  send(to: string, topic: string, payload: unknown): void;
  subscribe(topic: string): void;
  log(level: LogLevel, message: string): void;
}

export interface IncomingMessage {
  readonly id: string;
  readonly from: string;
  readonly topic: string;
  /** The payload as JSON, when it was JSON. */
  readonly payload?: unknown;
  /** The raw payload bytes, base64, when it was not JSON. */
  readonly payload_base64?: string;
}

export interface AgentHandlers {
  /** Returns the task's output; a throw becomes an `error` line for the task. */
  onTask(input: unknown, ctx: AgentContext): unknown;
  onMessage?(message: IncomingMessage, ctx: AgentContext): unknown;
  /** Called once the runtime asked the agent to stop (or its input ended). */
  onShutdown?(): unknown;
}

export interface AgentIo {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
}

/**
 * Serves tasks and messages until the runtime sends `shutdown` or closes stdin. Tasks run concurrently;
 * each answer carries its task id. Resolves once every started handler has answered.
 */
export function runAgent(handlers: AgentHandlers, io: AgentIo = { input: process.stdin, output: process.stdout }): Promise<void> {
  const write = (m: AgentToRuntime) => io.output.write(encodeLine(m));
  const context = (task_id?: string): AgentContext => ({
    ...(task_id !== undefined ? { task_id } : {}),
    send: (to, topic, payload) => write({ type: "send", to, topic, payload }),
    subscribe: (topic) => write({ type: "subscribe", topic }),
    log: (level, message) => write({ type: "log", level, message }),
  });
  const running = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    running.add(p);
    void p.finally(() => running.delete(p));
  };
  const splitter = new LineSplitter(16 * 1024 * 1024);
  io.input.setEncoding("utf8");

  return new Promise<void>((resolve) => {
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      void Promise.allSettled([...running]).then(async () => {
        await handlers.onShutdown?.();
        resolve();
      });
    };
    const onLine = (line: string) => {
      const parsed = parseRuntimeLine(line);
      if (!parsed.ok) {
        write({ type: "log", level: "warn", message: `ignored a malformed line: ${parsed.reason}` });
        return;
      }
      const m = parsed.message;
      if (m.type === "shutdown") return stop();
      if (m.type === "task") {
        track(
          (async () => {
            try {
              const output = await handlers.onTask(m.input, context(m.id));
              write({ type: "result", id: m.id, output: output ?? null });
            } catch (err) {
              write({ type: "error", id: m.id, message: err instanceof Error ? err.message : String(err) });
            }
          })(),
        );
        return;
      }
      const { type: _type, ...message } = m;
      track(
        (async () => {
          try {
            await handlers.onMessage?.(message, context());
          } catch (err) {
            write({ type: "error", message: `onMessage failed: ${err instanceof Error ? err.message : String(err)}` });
          }
        })(),
      );
    };
    const tooLong = (n: number) => write({ type: "log", level: "warn", message: `ignored a line of ${n} characters` });
    io.input.on("data", (chunk: string) => splitter.push(chunk, onLine, tooLong));
    io.input.on("end", () => {
      splitter.end(onLine, tooLong);
      stop();
    });
  });
}
