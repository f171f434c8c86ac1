import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { requestIdFrom } from "./http-hooks.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function request(headers: Record<string, string> = {}): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

describe("api - request ids", () => {
  it("keeps a sane X-Request-Id and replaces a missing or unsafe one with a fresh UUID", () => {
    expect(requestIdFrom(request({ "x-request-id": "trace.42:a-b_c" }))).toBe("trace.42:a-b_c");
    expect(requestIdFrom(request({ "x-request-id": "has spaces" }))).toMatch(UUID_V4);
    expect(requestIdFrom(request({ "x-request-id": "x".repeat(129) }))).toMatch(UUID_V4);
  });

  it("generates version 4 UUIDs that do not repeat, across refills of the random pool", () => {
    const ids = Array.from({ length: 5_000 }, () => requestIdFrom(request()));
    expect(ids.every((id) => UUID_V4.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // Every hex digit position outside the fixed ones varies.
    const firstDigits = new Set(ids.map((id) => id[0]));
    expect(firstDigits.size).toBe(16);
  });
});
