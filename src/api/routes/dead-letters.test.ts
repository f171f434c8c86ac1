import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";
import { makeHarness, msg } from "../../bus/bus.contract.js";
import { MemoryTransport } from "../../bus/memory-transport.js";
import { AgentId } from "../../core/ids.js";
import { parseAgentConfig } from "../../core/schemas.js";
import { MemoryApiKeyStore } from "../keys/index.js";
import { createApiServer } from "../server.js";

let api: TestApi;
let alice: string;

type Letter = Record<string, unknown> & { id: string };

async function letters(query = ""): Promise<{ dead_letters: Letter[]; next_cursor: string | null }> {
  const res = await api.call("GET", `/api/v1/dead-letters${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { dead_letters: Letter[]; next_cursor: string | null };
}

/** A message to an agent nobody registered: refused with AGENT_NOT_REGISTERED and dead-lettered. */
async function sendToNobody(to: string, payload: string): Promise<void> {
  const res = await api.call("POST", `/api/v1/agents/${to}/messages`, { sender: alice, payload });
  expect(res.statusCode).toBe(404);
  expect(res.json()).toMatchObject({ code: "AGENT_NOT_REGISTERED" });
}

beforeAll(async () => {
  api = await makeApi();
  alice = (await api.call("POST", "/api/v1/agents", { name: "dl-alice" })).json().id as string;
});
afterAll(async () => {
  await api.close();
});

describe("api - dead letters", () => {
  it("lists an undeliverable message with its reason, then replays it once the recipient exists", async () => {
    const ghost = AgentId.new();
    await sendToNobody(ghost, "hello ghost");
    const { dead_letters, next_cursor } = await letters();
    expect(next_cursor).toBeNull();
    expect(dead_letters).toHaveLength(1);
    const d = dead_letters[0] as Letter;
    expect(Object.keys(d).sort()).toEqual(["attempts", "code", "dead_at", "from", "id", "message_id", "payload_bytes", "priority", "reason", "replayable", "to", "topic"]);
    expect(d).toMatchObject({ message_id: d.id, from: alice, to: ghost, topic: "direct", priority: "Normal", code: "AGENT_NOT_REGISTERED", attempts: 0, replayable: true, payload_bytes: 11 });
    expect(d.reason).toEqual(expect.stringContaining(ghost));
    expect(d.dead_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((await api.call("GET", `/api/v1/dead-letters/${d.id}`)).json()).toEqual(d);

    const early = await api.call("POST", `/api/v1/dead-letters/${d.id}/replay`);
    expect(early.statusCode).toBe(404);
    expect(early.json()).toMatchObject({ code: "AGENT_NOT_REGISTERED" });
    expect((await letters()).dead_letters.map((l) => l.id)).toContain(d.id);
    for (const l of (await letters()).dead_letters) if (l.id !== d.id) await api.call("DELETE", `/api/v1/dead-letters/${l.id}`);

    const created = await api.runtime.lifecycle.createAgent(parseAgentConfig({ id: ghost, name: "ghost" }));
    await api.runtime.lifecycle.initializeAgent(created.id);
    const replayed = await api.call("POST", `/api/v1/dead-letters/${d.id}/replay`);
    expect(replayed.statusCode, replayed.body).toBe(200);
    const r = replayed.json() as { id: string; message_id: string; status: string };
    expect(r).toMatchObject({ id: d.id, status: "pending" });
    expect(r.message_id).not.toBe(d.id);
    const drained = (await api.call("GET", `/api/v1/agents/${ghost}/messages`)).json() as { messages: { message_id: string; payload: string; sender: string }[] };
    expect(drained.messages).toEqual([expect.objectContaining({ message_id: r.message_id, payload: "hello ghost", sender: alice })]);
    expect((await letters()).dead_letters).toEqual([]);
    expect((await api.call("POST", `/api/v1/dead-letters/${d.id}/replay`)).json()).toMatchObject({ code: "MESSAGE_NOT_FOUND" });
  });

  it("filters by agent and code, pages oldest first, and discards", async () => {
    const ghosts = [AgentId.new(), AgentId.new(), AgentId.new()];
    for (const [i, g] of ghosts.entries()) await sendToNobody(g, `m${i}`);
    const first = await letters("?limit=2");
    expect(first.dead_letters.map((l) => l.to)).toEqual(ghosts.slice(0, 2));
    const second = await letters(`?limit=2&cursor=${first.next_cursor as string}`);
    expect(second.dead_letters.map((l) => l.to)).toEqual(ghosts.slice(2));
    expect(second.next_cursor).toBeNull();
    expect((await letters(`?agent_id=${ghosts[1]}`)).dead_letters.map((l) => l.to)).toEqual([ghosts[1]]);
    expect((await letters(`?agent_id=${alice}`)).dead_letters).toHaveLength(3);
    expect((await letters("?code=DELIVERY_FAILED")).dead_letters).toEqual([]);

    const target = first.dead_letters[0] as Letter;
    expect((await api.call("DELETE", `/api/v1/dead-letters/${target.id}`)).json()).toEqual({ id: target.id, status: "deleted" });
    expect((await letters()).dead_letters.map((l) => l.to)).toEqual(ghosts.slice(1));
    const again = await api.call("DELETE", `/api/v1/dead-letters/${target.id}`);
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ code: "MESSAGE_NOT_FOUND" });
  });

  it("bad input is 400 with the failing fields; every route needs an admin key", async () => {
    const bad = await api.call("GET", "/api/v1/dead-letters/not-an-id");
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [{ path: "params.id" }] } });
    const badQuery = await api.call("GET", "/api/v1/dead-letters?limit=5000&cursor=x");
    expect(badQuery.statusCode).toBe(400);
    expect((badQuery.json() as { details: { issues: { path: string }[] } }).details.issues.map((i) => i.path)).toEqual(["query.limit"]);
    expect((await api.call("GET", "/api/v1/dead-letters?cursor=bm9wZQ")).json()).toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [{ path: "query.cursor" }] } });
    expect((await api.call("GET", "/api/v1/dead-letters?agent_id=zz")).json()).toMatchObject({ code: "INVALID_AGENT_ID" });

    const scoped = await api.key({ name: "dl-scoped", agent_ids: [alice] });
    const id = AgentId.new();
    for (const [method, url] of [["GET", "/api/v1/dead-letters"], ["GET", `/api/v1/dead-letters/${id}`], ["POST", `/api/v1/dead-letters/${id}/replay`], ["DELETE", `/api/v1/dead-letters/${id}`]] as const) {
      const res = await api.call(method, url, undefined, scoped);
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json()).toMatchObject({ code: "ADMIN_REQUIRED" });
      expect((await api.call(method, url, undefined, null)).statusCode).toBe(401);
    }
  });

  it("a tampered envelope is kept as evidence: listed as not replayable, replay is 409 DEAD_LETTER_NOT_REPLAYABLE", async () => {
    const h = await makeHarness(async () => ({ transport: new MemoryTransport(), cleanup: async () => undefined }));
    const a = AgentId.new();
    const b = AgentId.new();
    await h.bus.registerAgent(a, []);
    await h.bus.registerAgent(b, []);
    h.transport.intercepting = true;
    await h.bus.sendMessage(msg(a, b, "do not touch"));
    const bytes = new Uint8Array(h.transport.wire[0]!.bytes);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0x01;
    await h.transport.inject(b, bytes);
    expect(await h.bus.receiveMessages(b)).toEqual([]);

    const app = await createApiServer({ ...api.runtime, bus: h.bus }, { keyStore: new MemoryApiKeyStore() });
    try {
      await app.ready();
      const auth = `Bearer ${(await app.apiKeys!.create({ name: "admin", admin: true })).token}`;
      const list = (await app.inject({ method: "GET", url: "/api/v1/dead-letters", headers: { authorization: auth } })).json() as { dead_letters: Letter[] };
      expect(list.dead_letters).toHaveLength(1);
      const d = list.dead_letters[0] as Letter;
      expect(d).toMatchObject({ code: "INVALID_SIGNATURE", to: b, replayable: false, payload_bytes: null });
      const replay = await app.inject({ method: "POST", url: `/api/v1/dead-letters/${d.id}/replay`, headers: { authorization: auth } });
      expect(replay.statusCode).toBe(409);
      expect(replay.json()).toMatchObject({ code: "DEAD_LETTER_NOT_REPLAYABLE", details: { id: d.id, code: "INVALID_SIGNATURE" } });
      expect((await app.inject({ method: "DELETE", url: `/api/v1/dead-letters/${d.id}`, headers: { authorization: auth } })).statusCode).toBe(200);
      expect(await h.bus.listDeadLetters()).toEqual([]);
    } finally {
      await app.close();
      await h.close();
    }
  });
});
