/**
 * The runtime's end of one agent process's protocol stream: hands it tasks and messages, matches `result`
 * and `error` lines to the tasks waiting for them, passes `send` / `subscribe` / `log` to the owner, and
 * counts malformed lines without ever throwing. Works over any pair of streams (a sandboxed process's
 * stdio, or in-memory streams in tests).
 */
import { SchedulerError, type RuntimeError } from "../core/errors.js";
import type { Message } from "../core/types.js";
import { encodeLine, LineSplitter, parseAgentLine, payloadFields, type AgentToRuntime, type LogLevel } from "./protocol.js";

export interface SessionHandlers {
  send?(to: string, topic: string, payload: unknown): void;
  subscribe?(topic: string): void;
  log?(level: LogLevel, message: string): void;
  /** An `error` line with no task id (or an unknown one): an agent-level error. */
  agentError?(message: string, errorType?: string): void;
  malformed?(reason: string, count: number): void;
}

export interface SessionOptions {
  /** Longest accepted line, in characters. */
  readonly maxLineLength: number;
}

/** The session's own reason when the agent's output ends; owners that know the exit status replace it. */
export const OUTPUT_ENDED = (): SchedulerError =>
  new SchedulerError("AGENT_PROCESS_EXITED", "The agent's output ended before it answered", { details: { reason: "output ended" } });

interface Waiting {
  resolve(output: unknown): void;
  reject(err: RuntimeError): void;
}

export class AgentSession {
  readonly #output: NodeJS.WritableStream;
  readonly #handlers: SessionHandlers;
  readonly #splitter: LineSplitter;
  readonly #waiting = new Map<string, Waiting>();
  #malformed = 0;
  #ended: RuntimeError | undefined;
  #writable = true;
  readonly closed: Promise<void>;

  constructor(io: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream }, handlers: SessionHandlers, options: SessionOptions) {
    this.#output = io.output;
    this.#handlers = handlers;
    this.#splitter = new LineSplitter(options.maxLineLength);
    io.input.setEncoding("utf8");
    // A write to a process that died is an EPIPE on the stream: the session ends, the runtime carries on.
    io.output.on("error", () => {
      this.#writable = false;
    });
    this.closed = new Promise<void>((resolve) => {
      const done = () => {
        this.#splitter.end(
          (l) => this.#line(l),
          (n) => this.#overflow(n),
        );
        this.close(OUTPUT_ENDED());
        resolve();
      };
      io.input.on("data", (chunk: string) =>
        this.#splitter.push(
          chunk,
          (l) => this.#line(l),
          (n) => this.#overflow(n),
        ),
      );
      io.input.on("end", done);
      io.input.on("close", done);
      io.input.on("error", done);
    });
  }

  /** Lines that broke the protocol so far. */
  get malformed(): number {
    return this.#malformed;
  }

  /** Tasks handed over and not yet answered. */
  get inFlight(): number {
    return this.#waiting.size;
  }

  get isOpen(): boolean {
    return this.#ended === undefined;
  }

  /** Sends a task and resolves with the agent's `result` output (rejects on its `error`, or when the session ends). */
  runTask(id: string, input: unknown): Promise<unknown> {
    if (this.#ended) return Promise.reject(this.#ended);
    if (this.#waiting.has(id)) {
      return Promise.reject(new SchedulerError("TASK_ALREADY_EXISTS", `Task ${id} is already running in this agent`, { details: { task_id: id } }));
    }
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#write(encodeLine({ type: "task", id, input: input ?? null }));
    });
  }

  /** Forgets a task (cancelled or timed out) so a late answer is ignored. */
  abandon(id: string): void {
    this.#waiting.delete(id);
  }

  deliver(message: Message): void {
    if (this.#ended) return;
    this.#write(encodeLine({ type: "message", id: message.id, from: message.from, topic: message.topic, ...payloadFields(message.payload) }));
  }

  /** Asks the agent to exit and closes its input. */
  shutdown(): void {
    if (!this.#writable) return;
    this.#write(encodeLine({ type: "shutdown" }));
    this.#writable = false;
    this.#output.end();
  }

  /** Ends the session: every waiting task is rejected with `reason`. Idempotent (the first reason wins). */
  close(reason: RuntimeError): void {
    if (!this.#ended) this.#ended = reason;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(this.#ended);
  }

  #write(line: string): void {
    if (!this.#writable) return;
    try {
      this.#output.write(line);
    } catch {
      this.#writable = false;
    }
  }

  #overflow(size: number): void {
    this.#bad(`line of ${size} characters exceeds the limit`);
  }

  #bad(reason: string): void {
    this.#malformed++;
    this.#handlers.malformed?.(reason, this.#malformed);
  }

  #line(text: string): void {
    const parsed = parseAgentLine(text);
    if (!parsed.ok) {
      this.#bad(parsed.reason);
      return;
    }
    try {
      this.#dispatch(parsed.message);
    } catch (err) {
      this.#bad(`handler failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #dispatch(m: AgentToRuntime): void {
    switch (m.type) {
      case "result": {
        const w = this.#waiting.get(m.id);
        if (!w) return this.#bad(`result for unknown task ${m.id}`);
        this.#waiting.delete(m.id);
        w.resolve(m.output);
        return;
      }
      case "error": {
        const w = m.id !== undefined ? this.#waiting.get(m.id) : undefined;
        if (!w) return this.#handlers.agentError?.(m.message, m.error_type);
        this.#waiting.delete(m.id as string);
        w.reject(
          new SchedulerError("AGENT_TASK_FAILED", `The agent reported an error: ${m.message}`, {
            details: { task_id: m.id, reason: m.message, ...(m.error_type ? { error_type: m.error_type } : {}) },
          }),
        );
        return;
      }
      case "send":
        return this.#handlers.send?.(m.to, m.topic, m.payload);
      case "subscribe":
        return this.#handlers.subscribe?.(m.topic);
      case "log":
        return this.#handlers.log?.(m.level, m.message);
    }
  }
}
