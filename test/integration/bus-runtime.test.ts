import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AgentId, MessageId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { createRuntime } from "../../src/runtime.js";
import { requirement, TEST_NATS_URL } from "../helpers/requirements.js";

const nats = await requirement("nats", async () => {
  const { connect } = await import("@nats-io/transport-node");
  await (await connect({ servers: TEST_NATS_URL, timeout: 2_000 })).close();
  return true;
});

async function roundTrip(runtime: Awaited<ReturnType<typeof createRuntime>>): Promise<string> {
  const a = AgentId.new();
  const b = AgentId.new();
  await runtime.bus.registerAgent(a, []);
  await runtime.bus.registerAgent(b, []);
  const sent: string[] = [];
  runtime.events.on("message.sent", (e) => sent.push(e.message_id));
  const id = await runtime.bus.sendMessage({ id: MessageId.new(), from: a, to: b, topic: "t", payload: new TextEncoder().encode("hi"), priority: "Normal", ttl: 0 });
  expect(sent).toEqual([id]);
  const [m] = await runtime.bus.receiveMessages(b);
  return new TextDecoder().decode(m!.message.payload);
}

/** The audit trail keeps its file in the data dir even with the memory state store. */
const tempDir = () => mkdtempSync(join(tmpdir(), "symbiont-rt-bus-"));

describe("runtime - communication bus wiring", () => {
  it("runtime - builds the memory bus by default and closes it on shutdown", async () => {
    const runtime = await createRuntime({ logger: silentLogger(), config: { data_dir: tempDir(), store: { kind: "memory" } } });
    expect(await roundTrip(runtime)).toBe("hi");
    await runtime.shutdown();
    await expect(runtime.bus.registerAgent(AgentId.new(), [])).rejects.toMatchObject({ code: "RUNTIME_SHUT_DOWN" });
  });

  it("runtime - an unreachable NATS server stops start-up with TRANSPORT_UNAVAILABLE", async () => {
    await expect(
      createRuntime({ logger: silentLogger(), config: { data_dir: tempDir(), store: { kind: "memory" }, communication: { transport: "nats", nats_url: "nats://127.0.0.1:1", connect_timeout: 1_000 } } }),
    ).rejects.toMatchObject({ code: "TRANSPORT_UNAVAILABLE" });
  });

  it.skipIf(!nats.available)("runtime - transport: nats builds a JetStream bus", async () => {
    const namespace = `rt${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const runtime = await createRuntime({ logger: silentLogger(), config: { data_dir: tempDir(), store: { kind: "memory" }, communication: { transport: "nats", nats_url: TEST_NATS_URL, namespace } } });
    try {
      expect(await roundTrip(runtime)).toBe("hi");
    } finally {
      await runtime.shutdown();
      const { connect } = await import("@nats-io/transport-node");
      const { jetstreamManager } = await import("@nats-io/jetstream");
      const nc = await connect({ servers: TEST_NATS_URL });
      const jsm = await jetstreamManager(nc);
      for (const s of ["", "_DIR", "_STATUS"]) await jsm.streams.delete(`SYMBIONT_${namespace}${s}`).catch(() => false);
      await nc.close();
    }
  });
});
