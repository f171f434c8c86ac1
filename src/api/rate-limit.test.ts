import { describe, expect, it } from "vitest";
import { makeApi } from "../../test/helpers/api.js";
import { FixedWindows } from "./rate-limit.js";

describe("api - rate limit windows", () => {
  it("counts within a window and starts a fresh one when it ends", () => {
    const w = new FixedWindows(1_000);
    expect(w.hit("a", 0)).toEqual({ count: 1, ttl: 1_000 });
    expect(w.hit("a", 400)).toEqual({ count: 2, ttl: 600 });
    expect(w.hit("b", 500)).toEqual({ count: 1, ttl: 1_000 });
    expect(w.hit("a", 1_000)).toEqual({ count: 1, ttl: 1_000 });
  });

  it("holds at most its capacity, dropping expired buckets first and then the one that ends first", () => {
    const w = new FixedWindows(1_000, 3);
    w.hit("a", 0);
    w.hit("b", 10);
    w.hit("c", 20);
    w.hit("d", 30);
    expect(w.size).toBe(3);
    // "a" was dropped: it starts again at 1.
    expect(w.hit("a", 40).count).toBe(1);
    expect(w.hit("d", 50).count).toBe(2);
    // Past every window, a new bucket sweeps all the expired ones.
    w.hit("e", 5_000);
    expect(w.size).toBe(1);
  });
});

describe("api - rate limit headers", () => {
  it("limited routes (HEAD included) carry x-ratelimit-*; probes carry none and HEAD needs a key like GET", async () => {
    const api = await makeApi({ api: { rate_limit: { max_per_key: 50, max_per_ip: 40, window: 60_000 } } });
    try {
      // The admin key's first use verifies it (counted by address); from then on it has its own bucket.
      await api.call("GET", "/api/v1/agents");
      const res = await api.call("GET", "/api/v1/agents");
      expect(res.headers["x-ratelimit-limit"]).toBe("50");
      expect(res.headers["x-ratelimit-remaining"]).toBe("49");
      expect(Number(res.headers["x-ratelimit-reset"])).toBeGreaterThan(0);
      const head = await api.call("HEAD", "/api/v1/agents", undefined, null);
      expect(head.statusCode).toBe(401);
      expect(head.headers["x-ratelimit-limit"]).toBe("40");
      expect((await api.call("HEAD", "/api/v1/agents")).statusCode).toBe(200);
      const probe = await api.call("GET", "/api/v1/health", undefined, null);
      expect(probe.statusCode).toBe(200);
      expect(probe.headers["x-ratelimit-limit"]).toBeUndefined();
    } finally {
      await api.close();
    }
  });
});
