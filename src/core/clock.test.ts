import { describe, expect, it, vi } from "vitest";
import { ManualClock, SystemClock } from "./clock.js";

describe("clock - manual", () => {
  it("fires timers in due order as time advances, including ones set by timers", async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("b@20"), 20);
    clock.setTimeout(() => {
      fired.push("a@10");
      clock.setTimeout(() => fired.push("c@15"), 5);
    }, 10);
    const cancelled = clock.setTimeout(() => fired.push("never"), 12);
    clock.clearTimeout(cancelled);
    await clock.advance(9);
    expect(fired).toEqual([]);
    await clock.advance(11);
    expect(fired).toEqual(["a@10", "c@15", "b@20"]);
    expect(clock.now()).toBe(20);
    expect(clock.monotonic()).toBe(20);
  });

  it("sleep resolves only when time is advanced", async () => {
    const clock = new ManualClock(0);
    let done = false;
    void clock.sleep(100).then(() => (done = true));
    await clock.advance(99);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
  });
});

describe("clock - system", () => {
  it("runs and cancels real timers", async () => {
    const clock = new SystemClock();
    let fired = 0;
    clock.setTimeout(() => fired++, 1);
    clock.clearTimeout(clock.setTimeout(() => fired++, 1));
    await clock.sleep(20);
    expect(fired).toBe(1);
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(50);
  });

  it("a delay beyond 2^31-1 ms (about 24.8 days) waits its full length instead of firing at once", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
    try {
      const clock = new SystemClock();
      const day = 24 * 3600 * 1000;
      let fired = 0;
      clock.setTimeout(() => fired++, 30 * day);
      const cancelled = clock.setTimeout(() => fired++, 40 * day);
      vi.advanceTimersByTime(1_000);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(29 * day);
      expect(fired).toBe(0);
      clock.clearTimeout(cancelled);
      vi.advanceTimersByTime(day);
      expect(fired).toBe(1);
      vi.advanceTimersByTime(20 * day);
      expect(fired).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
