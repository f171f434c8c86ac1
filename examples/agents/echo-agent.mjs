#!/usr/bin/env node
// An example Symbiont agent as a plain Node script with no dependencies: it speaks the JSON-lines agent
// protocol on stdin/stdout (see src/agents/protocol.ts), so it runs as-is inside a sandbox.
//
// Task input: {"text": "...", "notify": "<agent id>"?}
// Output:     {"reply": "echo: ...", "length": N}; with `notify`, it also sends that agent a message on the
//             topic "echo". Messages it receives are logged back to the runtime.
import process from "node:process";
import { createInterface } from "node:readline";

const write = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });

lines.on("line", (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    write({ type: "log", level: "warn", message: "ignored a line that is not JSON" });
    return;
  }
  if (msg.type === "shutdown") {
    lines.close();
    return;
  }
  if (msg.type === "message") {
    write({ type: "log", level: "info", message: `message from ${msg.from} on ${msg.topic}` });
    return;
  }
  if (msg.type !== "task") return;
  const input = msg.input ?? {};
  if (typeof input.text !== "string") {
    write({ type: "error", id: msg.id, message: "input.text must be a string", error_type: "ValidationError" });
    return;
  }
  if (typeof input.notify === "string") {
    write({ type: "send", to: input.notify, topic: "echo", payload: { text: input.text } });
  }
  write({ type: "result", id: msg.id, output: { reply: `echo: ${input.text}`, length: input.text.length } });
});

lines.on("close", () => process.exit(0));
