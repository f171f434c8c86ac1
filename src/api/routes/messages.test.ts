import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";
import { clampTtlSeconds } from "./messages.js";

let api: TestApi;
let alice: string;
let bob: string;

async function create(name: string): Promise<string> {
  const res = await api.call("POST", "/api/v1/agents", { name });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { id: string }).id;
}

beforeAll(async () => {
  api = await makeApi();
  alice = await create("alice");
  bob = await create("bob");
});
afterAll(async () => {
  await api.close();
});

describe("api - messages", () => {
  it("a posted message goes through the bus, is pending, then drained once with every field and delivered", async () => {
    const sent = await api.call("POST", `/api/v1/agents/${bob}/messages`, { sender: alice, payload: "hello bob", topic: "greetings", ttl_seconds: 600 });
    expect(sent.statusCode, sent.body).toBe(200);
    const { message_id, status, ttl_seconds } = sent.json() as { message_id: string; status: string; ttl_seconds: number };
    expect(status).toBe("pending");
    expect(ttl_seconds).toBe(600);
    expect((await api.call("GET", `/api/v1/messages/${message_id}/status`)).json()).toEqual({ message_id, status: "pending" });

    const drained = await api.call("GET", `/api/v1/agents/${bob}/messages`);
    expect(drained.statusCode).toBe(200);
    const { messages } = drained.json() as { messages: Record<string, unknown>[] };
    expect(messages).toHaveLength(1);
    const m = messages[0] as Record<string, unknown>;
    expect(Object.keys(m).sort()).toEqual(["message_id", "message_type", "payload", "recipient", "sender", "timestamp_secs", "topic", "ttl_seconds"]);
    expect(m).toMatchObject({ message_id, sender: alice, recipient: bob, topic: "greetings", payload: "hello bob", message_type: "topic", ttl_seconds: 600 });
    expect(Math.abs((m.timestamp_secs as number) - Date.now() / 1000)).toBeLessThan(60);

    expect((await api.call("GET", `/api/v1/messages/${message_id}/status`)).json()).toEqual({ message_id, status: "delivered" });
    expect((await api.call("GET", `/api/v1/agents/${bob}/messages`)).json()).toEqual({ messages: [] });
  });

  it("ttl is clamped to 1..86400 s and to the bus's message_ttl", async () => {
    expect(clampTtlSeconds(0, 3_600_000)).toBe(1);
    expect(clampTtlSeconds(-5, 3_600_000)).toBe(1);
    expect(clampTtlSeconds(10_000_000, 3_600_000)).toBe(3_600);
    expect(clampTtlSeconds(10_000_000, 7 * 86_400_000)).toBe(86_400);
    expect(clampTtlSeconds(undefined, 3_600_000)).toBe(3_600);
    const res = await api.call("POST", `/api/v1/agents/${bob}/messages`, { sender: alice, payload: "x", ttl_seconds: 10_000_000 });
    expect((res.json() as { ttl_seconds: number }).ttl_seconds).toBe(Math.min(86_400, api.runtime.config.communication.message_ttl / 1000));
    await api.call("GET", `/api/v1/agents/${bob}/messages`);
  });

  it("bad ids, unknown senders, oversize bodies and missing keys are typed errors", async () => {
    const badId = await api.call("GET", "/api/v1/messages/not-a-uuid/status");
    expect(badId.statusCode).toBe(400);
    expect((badId.json() as { code: string }).code).toBe("INVALID_MESSAGE_ID");

    const badSender = await api.call("POST", `/api/v1/agents/${bob}/messages`, { sender: "nobody", payload: "x" });
    expect(badSender.statusCode).toBe(400);

    const unregistered = await api.call("POST", `/api/v1/agents/${bob}/messages`, { sender: "5b0e7f43-52c4-4a6a-9f43-1f1e2f3a4b5c", payload: "x" });
    expect(unregistered.statusCode).toBe(404);
    expect((unregistered.json() as { code: string }).code).toBe("AGENT_NOT_REGISTERED");

    const huge = await api.call("POST", `/api/v1/agents/${bob}/messages`, { sender: alice, payload: "x".repeat(300 * 1024) });
    expect(huge.statusCode).toBe(413);

    const anon = await api.call("GET", `/api/v1/agents/${bob}/messages`, undefined, null);
    expect(anon.statusCode).toBe(401);
  });
});
