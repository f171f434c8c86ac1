/**
 * The bus on a durable state store, across restarts on the same store and data dir (SQLite and
 * PostgreSQL): accepted messages come back and are delivered exactly once, keys survive (sealed at rest),
 * dead letters and final statuses survive.
 */
import { chmodSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import { resolveConfig } from "../core/config/index.js";
import { RuntimeError } from "../core/errors.js";
import { RuntimeEvents } from "../core/events.js";
import { AgentId, MessageId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { createPostgresStateStore } from "../store/postgres-state-store.js";
import { createSqliteStateStore } from "../store/sqlite-state-store.js";
import type { StateStore } from "../store/types.js";
import { dropSchemas, freshSchemaName, postgresRequirement, TEST_POSTGRES_URL } from "../../test/helpers/postgres.js";
import { eventually, msg } from "./bus.contract.js";
import { busKekFile, createCommunicationBus } from "./create-bus.js";
import type { CommunicationBus } from "./types.js";

type OpenStore = () => Promise<StateStore>;

interface Run {
  readonly bus: CommunicationBus;
  readonly store: StateStore;
  close(): Promise<void>;
}

const config = resolveConfig({ communication: { retry_attempts: 0 } }).communication;
const read = (b: Uint8Array) => new TextDecoder().decode(b);

async function start(openStore: OpenStore, dataDir: string, clock: ManualClock): Promise<Run> {
  const store = await openStore();
  const logger = silentLogger();
  try {
    const bus = await createCommunicationBus({
      config,
      authorizer: { check: async () => ({ allowed: true }) },
      clock,
      events: new RuntimeEvents(clock, logger),
      logger,
      durable: { store, dataDir },
    });
    return { bus, store, close: async () => (await bus.shutdown(), await store.close()) };
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof RuntimeError ? `${err.code} ${err.message}` : String(err);
  }
  return "resolved";
}

function describeDurableBus(name: string, makeStore: () => OpenStore): void {
  describe(`bus on a durable store (${name})`, () => {
    it("accepted messages are delivered after a restart, exactly once, with the agents' keys intact", async () => {
      const open = makeStore();
      const dataDir = mkdtempSync(join(tmpdir(), "symbiont-bus-durable-"));
      const clock = new ManualClock();
      const [a, b] = [AgentId.new(), AgentId.new()];

      const first = await start(open, dataDir, clock);
      await first.bus.registerAgent(a, []);
      await first.bus.registerAgent(b, []);
      const keys = await first.bus.getPublicKeys(b);
      const sent = Array.from({ length: 20 }, (_, i) => msg(a, b, `m${i}`, { priority: i % 5 === 0 ? "High" : "Normal" }));
      // Every send resolved: each was committed before it was acknowledged.
      await Promise.all(sent.map((m) => first.bus.sendMessage(m)));
      await first.close(); // nothing was received

      const second = await start(open, dataDir, clock);
      // An agent registered again before restore keeps its stored keys.
      await second.bus.registerAgent(b, []);
      expect(await second.bus.getPublicKeys(b)).toEqual(keys);
      expect(await second.bus.restore()).toEqual({ agents: 2, dead_letters: 0 });
      const got: string[] = [];
      second.bus.onMessage(b, (m) => void got.push(read(m.message.payload)));
      await eventually(() => got.length === sent.length);
      const high = sent.filter((m) => m.priority === "High").map((m) => read(m.payload));
      expect(got.slice(0, high.length)).toEqual(high);
      expect([...got].sort()).toEqual(sent.map((m) => read(m.payload)).sort());
      await eventually(async () => (await second.store.messages.countByStatus()).Delivered === sent.length);
      // The same id again is refused: the store remembers it.
      expect(await codeOf(second.bus.sendMessage(sent[0]!))).toMatch(/^VALIDATION_FAILED/);
      await second.close();

      const third = await start(open, dataDir, clock);
      await third.bus.restore();
      const again: string[] = [];
      third.bus.onMessage(b, (m) => void again.push(read(m.message.payload)));
      expect(await third.bus.receiveMessages(a)).toEqual([]);
      expect(await third.bus.getMessageStatus(sent[3]!.id)).toBe("Delivered");
      // A message sent now still reaches b (keys and directory are back).
      await third.bus.sendMessage(msg(a, b, "after"));
      await eventually(() => again.length === 1);
      expect(again).toEqual(["after"]);
      await third.close();
    });

    it("dead letters and final statuses survive a restart; a dead letter is still replayable", async () => {
      const open = makeStore();
      const dataDir = mkdtempSync(join(tmpdir(), "symbiont-bus-durable-"));
      const clock = new ManualClock();
      const [a, b, gone] = [AgentId.new(), AgentId.new(), AgentId.new()];

      const first = await start(open, dataDir, clock);
      await first.bus.registerAgent(a, []);
      await first.bus.registerAgent(b, []);
      const lost = msg(a, gone, "to nobody");
      expect(await codeOf(first.bus.sendMessage(lost))).toMatch(/^AGENT_NOT_REGISTERED/);
      const late = msg(a, b, "too late", { ttl: 1_000 });
      await first.bus.sendMessage(late);
      // Verification runs on a worker thread in real time: the sweep expires it once it is queued.
      await eventually(async () => (await clock.advance(1_000), (await first.bus.getMessageStatus(late.id)) === "Expired"));
      const poison = msg(a, b, "poison");
      first.bus.onMessage(b, () => {
        throw new Error("handler refuses");
      });
      await first.bus.sendMessage(poison);
      await eventually(async () => (await first.bus.getMessageStatus(poison.id)) === "Failed");
      await first.close();

      const second = await start(open, dataDir, clock);
      expect(await second.bus.restore()).toEqual({ agents: 2, dead_letters: 2 });
      expect(await second.bus.getMessageStatus(late.id)).toBe("Expired");
      expect(await second.bus.getMessageStatus(poison.id)).toBe("Failed");
      const dead = await second.bus.listDeadLetters();
      expect(dead.map((d) => [d.message_id, d.code])).toEqual([
        [lost.id, "AGENT_NOT_REGISTERED"],
        [poison.id, "DELIVERY_FAILED"],
      ]);
      expect(read(dead[0]!.message!.payload)).toBe("to nobody");
      await second.bus.registerAgent(gone, []);
      const replayed = await second.bus.replayDeadLetter(dead[0]!.id);
      expect((await second.bus.receiveMessages(gone)).map((m) => [m.message.id, read(m.message.payload)])).toEqual([[replayed, "to nobody"]]);
      await second.close();

      const third = await start(open, dataDir, clock);
      expect((await third.bus.restore()).dead_letters).toBe(1);
      expect((await third.bus.listDeadLetters()).map((d) => d.message_id)).toEqual([poison.id]);
      await third.close();
    });
  });
}

describeDurableBus("sqlite", () => {
  const file = join(mkdtempSync(join(tmpdir(), "symbiont-bus-store-")), "state.db");
  return () => createSqliteStateStore({ file });
});

const pg = await postgresRequirement();
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe.skipIf(!pg.available)("postgres", () => {
  describeDurableBus("postgres", () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    return () => createPostgresStateStore({ url: TEST_POSTGRES_URL, schema });
  });
});

describe("bus keys at rest", () => {
  it("are sealed under a 0600 key-encryption key file; another KEK or a readable file is refused, naming it", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "symbiont-bus-store-")), "state.db");
    const open = () => createSqliteStateStore({ file });
    const dataDir = mkdtempSync(join(tmpdir(), "symbiont-bus-durable-"));
    const clock = new ManualClock();
    const a = AgentId.new();
    const first = await start(open, dataDir, clock);
    await first.bus.registerAgent(a, []);
    const sealed = await first.store.busKeys.get(a);
    await first.close();
    const kek = busKekFile(dataDir);
    expect(statSync(kek).mode & 0o777).toBe(0o600);
    // The stored blob is ciphertext: no PKCS#8 structure (its DER prefix) in it.
    expect(Buffer.from(sealed!).includes(Buffer.from("302e020100300506032b6570", "hex"))).toBe(false);

    chmodSync(kek, 0o644);
    expect(await codeOf(start(open, dataDir, clock))).toContain(`STORE_CORRUPT The bus key-encryption key file ${kek} is accessible`);
    writeFileSync(kek, randomBytes(32), { mode: 0o600 });
    chmodSync(kek, 0o600);
    const second = await start(open, dataDir, clock);
    expect(await codeOf(second.bus.restore())).toContain(`STORE_CORRUPT Stored bus record bus-keys:${a} cannot be opened with the key-encryption key ${kek}`);
    await second.close();
  });

  it("an unknown message id is not found after a restart either", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "symbiont-bus-store-")), "state.db");
    const run = await start(() => createSqliteStateStore({ file }), mkdtempSync(join(tmpdir(), "symbiont-bus-durable-")), new ManualClock());
    await run.bus.restore();
    expect(await codeOf(run.bus.getMessageStatus(MessageId.new()))).toMatch(/^MESSAGE_NOT_FOUND/);
    await run.close();
  });
});
