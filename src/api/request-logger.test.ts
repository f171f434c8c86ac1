import { Writable } from "node:stream";
import type { FastifyBaseLogger } from "fastify";
import { describe, expect, it, vi } from "vitest";
import { createLogger } from "../core/logger.js";
import { withLazyChildren } from "./request-logger.js";

function capture(level: "info" | "debug") {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, base: createLogger({ level, destination: sink }) as unknown as FastifyBaseLogger };
}

describe("api - lazy per-request loggers", () => {
  it("makes a request's real child only when it logs at an enabled level, with the request's bindings", () => {
    const { lines, base } = capture("info");
    const childOf = vi.spyOn(base, "child");
    const root = withLazyChildren(base);
    const request = root.child({ request_id: "r1" }, {});
    request.debug("below the level");
    expect(childOf).not.toHaveBeenCalled();
    request.info({ route: "/x" }, "request");
    request.warn("again");
    expect(childOf).toHaveBeenCalledTimes(1);
    expect(lines).toMatchObject([
      { request_id: "r1", route: "/x", msg: "request" },
      { request_id: "r1", msg: "again" },
    ]);
    expect(lines.some((l) => l.msg === "below the level")).toBe(false);
  });

  it("a child made with serializers (as fastify makes its own) is real, and its children are lazy and use them", () => {
    const { lines, base } = capture("info");
    // pino's children inherit `child` from their parent, so the spy sees children of children too.
    const childOf = vi.spyOn(base, "child");
    const withSerializers = withLazyChildren(base).child({}, { serializers: { thing: () => "serialized" } });
    expect(childOf).toHaveBeenCalledTimes(1);
    const request = withSerializers.child({ request_id: "r2" }, {});
    expect(childOf).toHaveBeenCalledTimes(1);
    request.info({ thing: { secret: "x" } }, "with a thing");
    expect(childOf).toHaveBeenCalledTimes(2);
    expect(lines).toMatchObject([{ request_id: "r2", thing: "serialized", msg: "with a thing" }]);
  });

  it("the root logs as the logger it wraps", () => {
    const { lines, base } = capture("info");
    const root = withLazyChildren(base);
    root.info({ component: "api" }, "listening");
    expect(lines).toMatchObject([{ component: "api", msg: "listening" }]);
    expect((root as FastifyBaseLogger & { isLevelEnabled(l: string): boolean }).isLevelEnabled("debug")).toBe(false);
  });
});
