/**
 * The agent protocol: JSON lines on the agent process's stdin (runtime → agent) and stdout (agent →
 * runtime). One JSON object per line, discriminated by `type`. Language-neutral: any program that can read
 * and write lines of JSON is an agent.
 *
 * Runtime → agent:
 *   {"type":"task","id":"<task id>","input":<any>}
 *   {"type":"message","id":"<message id>","from":"<agent id>","topic":"<topic>","payload":<any>}
 *     (`payload` is the message bytes parsed as JSON when they are JSON, else `payload_base64` carries them)
 *   {"type":"shutdown"}
 * Agent → runtime:
 *   {"type":"result","id":"<task id>","output":<any>}
 *   {"type":"error","id":"<task id>","message":"<text>","error_type"?:"NetworkError"|...}   (id optional)
 *   {"type":"send","to":"<agent id>","topic":"<topic>","payload":<any>}
 *   {"type":"subscribe","topic":"<topic>"}
 *   {"type":"log","level":"debug"|"info"|"warn"|"error","message":"<text>"}
 *
 * A line that is not JSON, not an object of a known type, or longer than the line limit is *malformed*:
 * counted, reported, and skipped — it never breaks the session.
 */

export type RuntimeToAgent =
  | { readonly type: "task"; readonly id: string; readonly input: unknown }
  | {
      readonly type: "message";
      readonly id: string;
      readonly from: string;
      readonly topic: string;
      readonly payload?: unknown;
      readonly payload_base64?: string;
    }
  | { readonly type: "shutdown" };

export type LogLevel = "debug" | "info" | "warn" | "error";
const LOG_LEVELS: readonly string[] = ["debug", "info", "warn", "error"];

export type AgentToRuntime =
  | { readonly type: "result"; readonly id: string; readonly output: unknown }
  | { readonly type: "error"; readonly id?: string; readonly message: string; readonly error_type?: string }
  | { readonly type: "send"; readonly to: string; readonly topic: string; readonly payload: unknown }
  | { readonly type: "subscribe"; readonly topic: string }
  | { readonly type: "log"; readonly level: LogLevel; readonly message: string };

export type Parsed<T> = { readonly ok: true; readonly message: T } | { readonly ok: false; readonly reason: string };

/** One protocol line, newline included. JSON.stringify never emits a raw newline, so framing is safe. */
export function encodeLine(message: RuntimeToAgent | AgentToRuntime): string {
  return `${JSON.stringify(message)}\n`;
}

function isString(v: unknown, max = 1 << 20): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= max;
}

function parseObject(line: string): Parsed<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, reason: "not a JSON object" };
  return { ok: true, message: value as Record<string, unknown> };
}

/** Validates a line an agent wrote. */
export function parseAgentLine(line: string): Parsed<AgentToRuntime> {
  const obj = parseObject(line);
  if (!obj.ok) return obj;
  const m = obj.message;
  const bad = (reason: string): Parsed<AgentToRuntime> => ({ ok: false, reason: `${String(m.type)}: ${reason}` });
  switch (m.type) {
    case "result":
      if (!isString(m.id, 256)) return bad("`id` must be the task id");
      return { ok: true, message: { type: "result", id: m.id, output: m.output ?? null } };
    case "error":
      if (m.id !== undefined && !isString(m.id, 256)) return bad("`id` must be the task id");
      if (typeof m.message !== "string") return bad("`message` must be a string");
      if (m.error_type !== undefined && typeof m.error_type !== "string") return bad("`error_type` must be a string");
      return {
        ok: true,
        message: {
          type: "error",
          message: m.message,
          ...(m.id !== undefined ? { id: m.id as string } : {}),
          ...(m.error_type !== undefined ? { error_type: m.error_type as string } : {}),
        },
      };
    case "send":
      if (!isString(m.to, 256)) return bad("`to` must be an agent id");
      if (!isString(m.topic, 1024)) return bad("`topic` must be a non-empty string");
      return { ok: true, message: { type: "send", to: m.to, topic: m.topic, payload: m.payload ?? null } };
    case "subscribe":
      if (!isString(m.topic, 1024)) return bad("`topic` must be a non-empty string");
      return { ok: true, message: { type: "subscribe", topic: m.topic } };
    case "log":
      if (typeof m.message !== "string") return bad("`message` must be a string");
      return {
        ok: true,
        message: { type: "log", level: LOG_LEVELS.includes(m.level as string) ? (m.level as LogLevel) : "info", message: m.message },
      };
    default:
      return { ok: false, reason: `unknown message type ${JSON.stringify(m.type)}` };
  }
}

/** Validates a line the runtime wrote (the agent side of the protocol uses this). */
export function parseRuntimeLine(line: string): Parsed<RuntimeToAgent> {
  const obj = parseObject(line);
  if (!obj.ok) return obj;
  const m = obj.message;
  switch (m.type) {
    case "task":
      if (!isString(m.id, 256)) return { ok: false, reason: "task: `id` must be a string" };
      return { ok: true, message: { type: "task", id: m.id, input: m.input ?? null } };
    case "message":
      if (!isString(m.id, 256) || !isString(m.from, 256) || !isString(m.topic, 1024)) {
        return { ok: false, reason: "message: `id`, `from` and `topic` must be strings" };
      }
      return {
        ok: true,
        message: {
          type: "message",
          id: m.id,
          from: m.from,
          topic: m.topic,
          ...("payload" in m ? { payload: m.payload } : {}),
          ...(typeof m.payload_base64 === "string" ? { payload_base64: m.payload_base64 } : {}),
        },
      };
    case "shutdown":
      return { ok: true, message: { type: "shutdown" } };
    default:
      return { ok: false, reason: `unknown message type ${JSON.stringify(m.type)}` };
  }
}

/**
 * Splits a byte stream into lines. A line longer than `maxLength` characters is reported once (as `overflow`) and its
 * bytes are dropped up to the next newline, so one runaway line cannot grow memory without bound.
 */
export class LineSplitter {
  #buffer = "";
  #discarding = false;

  constructor(private readonly maxLength: number) {}

  /** Feeds a chunk; calls `line` for each complete line and `overflow` for each oversized one. */
  push(chunk: string, line: (text: string) => void, overflow: (size: number) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", start);
      if (nl < 0) break;
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      if (this.#discarding) {
        this.#discarding = false;
        this.#buffer = "";
        continue;
      }
      const text = this.#buffer + piece;
      this.#buffer = "";
      if (text.length > this.maxLength) overflow(text.length);
      else if (text.trim() !== "") line(text.endsWith("\r") ? text.slice(0, -1) : text);
    }
    if (start < chunk.length && !this.#discarding) {
      this.#buffer += chunk.slice(start);
      if (this.#buffer.length > this.maxLength) {
        overflow(this.#buffer.length);
        this.#buffer = "";
        this.#discarding = true;
      }
    }
  }

  /** The unterminated tail at end of stream, if any. */
  end(line: (text: string) => void, overflow: (size: number) => void): void {
    const rest = this.#buffer;
    this.#buffer = "";
    if (this.#discarding || rest.trim() === "") return;
    if (rest.length > this.maxLength) overflow(rest.length);
    else line(rest);
  }
}

/** How message bytes travel in a `message` line: as JSON when they are JSON text, else base64. */
export function payloadFields(payload: Uint8Array): { payload: unknown } | { payload_base64: string } {
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8");
  try {
    return { payload: JSON.parse(text) as unknown };
  } catch {
    return { payload_base64: Buffer.from(payload).toString("base64") };
  }
}

/** The bytes of a payload an agent sent: its JSON text. */
export function payloadBytes(payload: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(payload ?? null), "utf8");
}
