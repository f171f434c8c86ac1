/**
 * Per-request plumbing: a request id (accepted from `X-Request-Id` or generated) echoed on every answer and
 * bound to every log line, security headers, and — when `enable_tracing` is on — a span per request (W3C
 * `traceparent` accepted and returned; `AccessLog` logs the span with its duration).
 */
import { randomBytes, randomFillSync } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance, FastifyReply } from "fastify";

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** On every answer. A list of pairs, not an object: setting them is a loop with no keys to list per request. */
const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  ["referrer-policy", "no-referrer"],
  ["cache-control", "no-store"],
  ["cross-origin-opener-policy", "same-origin"],
  ["content-security-policy", "default-src 'none'; frame-ancestors 'none'"],
];

/** Puts the security headers and the request id on an answer. */
export function stampReply(reply: FastifyReply, requestId: string): void {
  for (let i = 0; i < SECURITY_HEADERS.length; i++) {
    const [name, value] = SECURITY_HEADERS[i] as readonly [string, string];
    void reply.header(name, value);
  }
  void reply.header("x-request-id", requestId);
}

/** Fastify's `genReqId`: the caller's X-Request-Id when it is sane, else a fresh UUID. */
export function requestIdFrom(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID_RE.test(given) ? given : uuid();
}

const HEX_DIGITS = Buffer.from("0123456789abcdef", "latin1");
const uuidRandom = Buffer.allocUnsafe(16 * 256);
let uuidOffset = uuidRandom.length;
const uuidText = Buffer.allocUnsafe(36);

/**
 * A random (version 4) UUID as one flat string. crypto.randomUUID joins its answer from twenty pieces, and
 * every use of a request id (the header's validation, the log binding) would first copy them into one; this
 * writes the text into a buffer and reads it back once. Randomness comes from a pool filled by the CSPRNG,
 * as randomUUID's does.
 */
function uuid(): string {
  if (uuidOffset === uuidRandom.length) {
    randomFillSync(uuidRandom);
    uuidOffset = 0;
  }
  let j = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) uuidText[j++] = 0x2d;
    let b = uuidRandom[uuidOffset + i] as number;
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    uuidText[j++] = HEX_DIGITS[b >> 4] as number;
    uuidText[j++] = HEX_DIGITS[b & 0x0f] as number;
  }
  uuidOffset += 16;
  return uuidText.toString("latin1", 0, 36);
}

interface Span {
  readonly trace_id: string;
  readonly span_id: string;
  readonly parent_span_id?: string;
  readonly flags: string;
}

declare module "fastify" {
  interface FastifyRequest {
    span?: Span;
  }
}

/**
 * The hook is callback-style, not async: on a small request each promise a hook returns costs about as much as
 * the hook's own work. What happens when the answer is written is in `AccessLog`.
 */
export function registerHttpHooks(app: FastifyInstance, options: { tracing: boolean }): void {
  const { tracing } = options;
  // Declared even without tracing, so that request objects keep one shape (see registerAuth).
  app.decorateRequest("span", undefined);
  app.addHook("onRequest", function startRequest(request, reply, done) {
    // Set once up front (not in onSend) so that every answer, errors included, carries them.
    stampReply(reply, request.id);
    if (tracing) {
      const m = TRACEPARENT_RE.exec(String(request.headers.traceparent ?? ""));
      const span: Span = m
        ? { trace_id: m[1] as string, parent_span_id: m[2] as string, span_id: randomBytes(8).toString("hex"), flags: m[3] as string }
        : { trace_id: randomBytes(16).toString("hex"), span_id: randomBytes(8).toString("hex"), flags: "01" };
      request.span = span;
      request.log = request.log.child({ trace_id: span.trace_id, span_id: span.span_id });
      void reply.header("traceparent", `00-${span.trace_id}-${span.span_id}-${span.flags}`);
    }
    done();
  });
}
