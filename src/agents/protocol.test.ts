import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AgentId, MessageId } from "../core/ids.js";
import { runAgent } from "./agent-sdk.js";
import { encodeLine, LineSplitter, parseAgentLine, parseRuntimeLine, payloadBytes, payloadFields } from "./protocol.js";
import { AgentSession } from "./session.js";

function pipePair() {
  // runtime → agent and agent → runtime
  return { toAgent: new PassThrough(), toRuntime: new PassThrough() };
}

describe("agent protocol - codec", () => {
  it("round-trips every message type", () => {
    for (const m of [
      { type: "result", id: "t1", output: { a: [1, 2] } },
      { type: "error", id: "t1", message: "bad", error_type: "NetworkError" },
      { type: "error", message: "agent-level" },
      { type: "send", to: "x", topic: "t", payload: "hi" },
      { type: "subscribe", topic: "news.*" },
      { type: "log", level: "warn", message: "careful" },
    ] as const) {
      const line = encodeLine(m);
      expect(line.endsWith("\n")).toBe(true);
      expect(line.slice(0, -1)).not.toContain("\n");
      expect(parseAgentLine(line.trim())).toEqual({ ok: true, message: m });
    }
    expect(parseRuntimeLine(encodeLine({ type: "task", id: "t", input: "a\nb" }).trim())).toEqual({
      ok: true,
      message: { type: "task", id: "t", input: "a\nb" },
    });
    expect(parseRuntimeLine('{"type":"shutdown"}')).toEqual({ ok: true, message: { type: "shutdown" } });
  });

  it("explains malformed lines", () => {
    expect(parseAgentLine("{not json")).toMatchObject({ ok: false, reason: expect.stringMatching(/^not JSON/) });
    expect(parseAgentLine("[1]")).toEqual({ ok: false, reason: "not a JSON object" });
    expect(parseAgentLine('{"type":"dance"}')).toEqual({ ok: false, reason: 'unknown message type "dance"' });
    expect(parseAgentLine('{"type":"result"}')).toMatchObject({ ok: false, reason: expect.stringContaining("id") });
    expect(parseAgentLine('{"type":"send","to":"a"}')).toMatchObject({ ok: false, reason: expect.stringContaining("topic") });
  });

  it("splits lines across chunks and drops an oversized line without losing the next", () => {
    const lines: string[] = [];
    const over: number[] = [];
    const s = new LineSplitter(10);
    const push = (c: string) => s.push(c, (l) => lines.push(l), (n) => over.push(n));
    push('{"a"');
    push(":1}\r\n{}\n");
    push("x".repeat(8));
    push("y".repeat(8)); // now over the limit: reported once, discarded to the newline
    push("zzz\nok\n");
    s.end((l) => lines.push(l), (n) => over.push(n));
    expect(lines).toEqual(['{"a":1}', "{}", "ok"]);
    expect(over).toHaveLength(1);
  });

  it("carries JSON payloads as JSON and other bytes as base64", () => {
    expect(payloadFields(payloadBytes({ x: 1 }))).toEqual({ payload: { x: 1 } });
    expect(payloadFields(new Uint8Array([0xff, 0x00]))).toEqual({ payload_base64: "/wA=" });
  });
});

describe("agent protocol - session and TypeScript helper over in-memory streams", () => {
  it("runs tasks, relays send/subscribe/log, reports agent errors, and counts malformed lines", async () => {
    const { toAgent, toRuntime } = pipePair();
    const peer = AgentId.new();
    const agentDone = runAgent(
      {
        async onTask(input, ctx) {
          if (input === "fail") throw new Error("cannot");
          ctx.log("info", `working on ${ctx.task_id}`);
          ctx.subscribe("news");
          ctx.send(peer, "greetings", { hello: input });
          return { echoed: input };
        },
      },
      { input: toAgent, output: toRuntime },
    );
    const seen: string[] = [];
    const malformed: string[] = [];
    const session = new AgentSession(
      { input: toRuntime, output: toAgent },
      {
        send: (to, topic, payload) => seen.push(`send ${to === peer} ${topic} ${JSON.stringify(payload)}`),
        subscribe: (topic) => seen.push(`subscribe ${topic}`),
        log: (level, message) => seen.push(`log ${level} ${message}`),
        malformed: (reason) => malformed.push(reason),
      },
      { maxLineLength: 1024 },
    );
    await expect(session.runTask("t1", "hi")).resolves.toEqual({ echoed: "hi" });
    expect(seen).toEqual(["log info working on t1", "subscribe news", 'send true greetings {"hello":"hi"}']);
    await expect(session.runTask("t2", "fail")).rejects.toMatchObject({ code: "AGENT_TASK_FAILED", details: { reason: "cannot" } });

    // Garbage from the agent's side is counted, and the session keeps working.
    toRuntime.write("this is not json\n");
    toRuntime.write('{"type":"result","id":"nobody"}\n');
    toRuntime.write(`${"x".repeat(2000)}\n`);
    await expect(session.runTask("t3", 3)).resolves.toEqual({ echoed: 3 });
    expect(session.malformed).toBe(3);
    expect(malformed[1]).toContain("unknown task nobody");

    session.deliver({ id: MessageId.new(), from: peer, to: peer, topic: "x", payload: payloadBytes(1), priority: "Normal", ttl: 1000 });
    session.shutdown();
    await agentDone;
  });

  it("rejects waiting tasks when the agent's output ends", async () => {
    const { toAgent, toRuntime } = pipePair();
    const session = new AgentSession({ input: toRuntime, output: toAgent }, {}, { maxLineLength: 1024 });
    const pending = session.runTask("t", null);
    toRuntime.end();
    await expect(pending).rejects.toMatchObject({ code: "AGENT_PROCESS_EXITED" });
    await session.closed;
    await expect(session.runTask("u", null)).rejects.toMatchObject({ code: "AGENT_PROCESS_EXITED" });
  });
});

describe("agent protocol - example agent", () => {
  it("the example Node agent answers a task and sends a message", async () => {
    const script = fileURLToPath(new URL("../../examples/agents/echo-agent.mjs", import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const sent: unknown[] = [];
    const session = new AgentSession(
      { input: child.stdout, output: child.stdin },
      { send: (to, topic, payload) => sent.push({ to, topic, payload }) },
      { maxLineLength: 1 << 20 },
    );
    const peer = AgentId.new();
    await expect(session.runTask("t1", { text: "hello", notify: peer })).resolves.toEqual({ reply: "echo: hello", length: 5 });
    expect(sent).toEqual([{ to: peer, topic: "echo", payload: { text: "hello" } }]);
    await expect(session.runTask("t2", { text: 42 })).rejects.toMatchObject({
      code: "AGENT_TASK_FAILED",
      details: { error_type: "ValidationError" },
    });
    session.shutdown();
    expect(await exited).toBe(0);
  });
});
