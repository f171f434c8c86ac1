/**
 * The bus contract on NATS JetStream, plus what only a networked transport has: two runtime instances
 * sharing a namespace, NATS unreachable at start, and NATS lost (and restored) mid-run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { requirement, TEST_NATS_URL } from "../../test/helpers/requirements.js";
import { resolveConfig } from "../core/config/index.js";
import { RuntimeError } from "../core/errors.js";
import { AgentId, MessageId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { describeBusContract, eventually, makeHarness, msg, type CommunicationInput, type OpenTransport } from "./bus.contract.js";
import { NatsTransport } from "./nats-transport.js";
import type { PublishMeta, TransportDelivery } from "./transport.js";

const META: PublishMeta = { from: AgentId.new(), topic: "t", priority: "Normal", ttl: 60_000 };

const nats = await requirement("nats", async () => {
  const nc = await connect({ servers: TEST_NATS_URL, timeout: 2_000 });
  try {
    await (await jetstreamManager(nc)).getAccountInfo();
    return true;
  } finally {
    await nc.close();
  }
});

/** The loss test runs a server of its own, which needs the binary (the shared server must not be stopped). */
const NATS_SERVER_BIN = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].find((p) => existsSync(p));
const natsBinary = await requirement("nats-server binary", async () =>
  NATS_SERVER_BIN ? true : "no nats-server executable in /usr/sbin, /usr/bin or /usr/local/bin",
);

const RUN = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
let counter = 0;
const namespaces = new Set<string>();

/** Deletes every stream this run created. */
async function dropNamespaces(url: string, names: Iterable<string>): Promise<void> {
  const nc = await connect({ servers: url, timeout: 2_000 });
  try {
    const jsm = await jetstreamManager(nc);
    for (const ns of names) {
      for (const stream of [`SYMBIONT_${ns}`, `SYMBIONT_${ns}_DIR`, `SYMBIONT_${ns}_STATUS`]) {
        await jsm.streams.delete(stream).catch(() => false);
      }
    }
  } finally {
    await nc.close();
  }
}

function openOn(url: string, namespace?: string): OpenTransport {
  return async (communication) => {
    const ns = namespace ?? `${RUN}_${++counter}`;
    namespaces.add(ns);
    const config = resolveConfig({ communication: { ...communication, transport: "nats", nats_url: url, namespace: ns } }).communication;
    return { transport: await NatsTransport.connect(config, silentLogger()), cleanup: async () => undefined };
  };
}

const withNamespace =
  (extra: CommunicationInput): OpenTransport =>
  (c) =>
    openOn(TEST_NATS_URL)({ ...c, ...extra });

describe.skipIf(!nats.available)("nats transport", () => {
  afterAll(async () => {
    await dropNamespaces(TEST_NATS_URL, namespaces);
  });

  describeBusContract("nats", withNamespace({}));

  it("nats - two runtime instances deliver to each other's agents and share statuses", async () => {
    const ns = `${RUN}_pair`;
    const one = await makeHarness(openOn(TEST_NATS_URL, ns));
    const two = await makeHarness(openOn(TEST_NATS_URL, ns));
    try {
      const a = AgentId.new();
      const b = AgentId.new();
      await one.bus.registerAgent(a, []);
      await two.bus.registerAgent(b, []);
      await two.bus.subscribeToTopic(b, "fleet.>");
      const m = msg(a, b, "across instances");
      await one.bus.sendMessage(m);
      const got = await eventually(async () => (await two.bus.receiveMessages(b))[0]);
      expect(new TextDecoder().decode(got.message.payload)).toBe("across instances");
      expect(await eventually(async () => (await one.bus.getMessageStatus(m.id)) === "Delivered")).toBe(true);
      // the reply path and a broadcast reach back the other way
      await two.bus.reply(got.message, new TextEncoder().encode("ack"));
      const back = await eventually(async () => (await one.bus.receiveMessages(a))[0]);
      expect(back.message.correlation_id).toBe(m.id);
      const ids = await eventually(async () => {
        try {
          return await one.bus.broadcastMessage("fleet.status", msg(a, a, "all hands"));
        } catch {
          return undefined;
        }
      });
      expect(ids).toHaveLength(1);
      expect(await eventually(async () => (await two.bus.receiveMessages(b))[0])).toBeDefined();
      expect(two.transport.wire).toHaveLength(1); // only the reply left instance two
    } finally {
      await one.close();
      await two.close();
    }
  });

  it("nats - the server bounds each agent's queue for senders on other instances", async () => {
    const ns = `${RUN}_bound`;
    const communication = { max_queue_size: 3 };
    const one = await makeHarness(openOn(TEST_NATS_URL, ns), { communication });
    const two = await makeHarness(openOn(TEST_NATS_URL, ns), { communication });
    try {
      const a = AgentId.new();
      const b = AgentId.new();
      await one.bus.registerAgent(a, []);
      await two.bus.registerAgent(b, []);
      await eventually(async () => (await one.bus.getPublicKeys(b).catch(() => undefined)) !== undefined);
      for (let i = 0; i < 3; i++) await one.bus.sendMessage(msg(a, b, `m${i}`));
      const refused = await one.bus.sendMessage(msg(a, b, "one too many")).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: "AGENT_QUEUE_FULL" });
      const got = await eventually(async () => {
        const batch = await two.bus.receiveMessages(b);
        return batch.length ? batch : undefined;
      });
      expect(got.map((m) => new TextDecoder().decode(m.message.payload))).toEqual(["m0", "m1", "m2"]);
      // acknowledgements free the slots (they travel on instance two's connection, so allow them a moment)
      await eventually(async () => one.bus.sendMessage(msg(a, b, "room again")).then(() => true, () => false));
    } finally {
      await one.close();
      await two.close();
    }
  });

  it("nats - unacknowledged envelopes are redelivered to the next consumer; duplicates by message id are dropped", async () => {
    const ns = `${RUN}_redeliver`;
    namespaces.add(ns);
    const config = resolveConfig({ communication: { transport: "nats", nats_url: TEST_NATS_URL, namespace: ns, delivery_timeout: 500 } }).communication;
    const agent = AgentId.new();
    const first = await NatsTransport.connect(config, silentLogger());
    const seen: { bytes: string; attempt: number }[] = [];
    first.setSink({ deliver: (_id, d) => seen.push({ bytes: new TextDecoder().decode(d.bytes), attempt: d.attempt }) });
    await first.attach(agent);
    const id = MessageId.new();
    await first.publish(agent, id, new TextEncoder().encode("envelope"), META);
    await first.publish(agent, id, new TextEncoder().encode("envelope"), META); // a retried publish
    await eventually(() => seen.length === 1);
    await first.close(); // "crashes" without acknowledging
    const second = await NatsTransport.connect(config, silentLogger());
    try {
      const again: { bytes: string; attempt: number; ack: TransportDelivery["ack"] }[] = [];
      second.setSink({ deliver: (_id, d) => again.push({ bytes: new TextDecoder().decode(d.bytes), attempt: d.attempt, ack: d.ack }) });
      await second.attach(agent);
      const redelivered = await eventually(() => again[0], 10_000);
      expect(redelivered).toMatchObject({ bytes: "envelope", attempt: 2 });
      await redelivered.ack("Delivered");
      await second.settle(agent);
      expect(again).toHaveLength(1);
      expect(await second.detach(agent)).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it("nats - an unreachable server at start is TRANSPORT_UNAVAILABLE", async () => {
    const port = await freePort();
    const err = await openOn(`nats://127.0.0.1:${port}`)({ connect_timeout: 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err).toMatchObject({ code: "TRANSPORT_UNAVAILABLE" });
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it.skipIf(!natsBinary.available)("nats - losing the server mid-run fails sends clearly and keeps every acknowledged message", async () => {
    const server = await PrivateNats.start();
    const url = server.url;
    const h = await makeHarness(openOn(url, `${RUN}_loss`), { communication: { delivery_timeout: 500, retry_attempts: 1 } });
    try {
      const a = AgentId.new();
      const b = AgentId.new();
      await h.bus.registerAgent(a, []);
      await h.bus.registerAgent(b, []);
      h.transport.intercepting = false;
      for (const body of ["kept-1", "kept-2", "kept-3"]) await h.bus.sendMessage(msg(a, b, body));
      await server.stop();
      const lost = await h.bus.sendMessage(msg(a, b, "while down")).catch((e: unknown) => e);
      expect(lost).toMatchObject({ code: "TRANSPORT_UNAVAILABLE" });
      await server.restart();
      const got: string[] = [];
      await eventually(async () => {
        try {
          got.push(...(await h.bus.receiveMessages(b)).map((s) => new TextDecoder().decode(s.message.payload)));
        } catch {
          return false;
        }
        return got.length >= 3;
      }, 15_000);
      expect(got.sort()).toEqual(["kept-1", "kept-2", "kept-3"]);
      await h.bus.sendMessage(msg(a, b, "after"));
      expect(await eventually(async () => (await h.bus.receiveMessages(b))[0])).toBeDefined();
    } finally {
      await h.close();
      await server.stop();
      server.remove();
    }
  }, 60_000);
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** A nats-server of our own (so stopping it disturbs nobody), with JetStream on a temporary store. */
class PrivateNats {
  #proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<PrivateNats> {
    const server = new PrivateNats(await freePort(), mkdtempSync(join(tmpdir(), "symbiont-nats-")));
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    this.#proc = spawn(NATS_SERVER_BIN as string, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.dir], { stdio: "ignore" });
    await eventually(async () => {
      try {
        const nc = await connect({ servers: this.url, timeout: 500 });
        await (await jetstreamManager(nc)).getAccountInfo();
        await nc.close();
        return true;
      } catch {
        return false;
      }
    }, 10_000);
  }

  async stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill("SIGKILL");
    });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
