/**
 * Request rate limits: fixed windows per verified API key (`max_per_key`) and per client address for
 * everything else (`max_per_ip`: no key, a malformed one, or a secret not yet verified — so guessing
 * secrets for a known key id is throttled by address before any scrypt work). Every limited answer
 * carries `x-ratelimit-limit`, `-remaining` and `-reset` (seconds); past the limit the answer is 429
 * RATE_LIMITED with `retry-after`. Health probes (`probe` routes) are never limited.
 *
 * The check is a synchronous route-level onRequest hook: a plugin-style limiter awaits its key generator,
 * its limit and its store on every request, and those promises cost more than the counting itself.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from "fastify";
import type { Clock } from "../core/clock.js";
import { ApiError } from "../core/errors.js";
import { presentedKey } from "./auth.js";
import { appendOnRequest } from "./route.js";
import type { ApiKeyService } from "./keys/service.js";

export interface RateLimitOptions {
  readonly max_per_key: number;
  readonly max_per_ip: number;
  /** Window length in ms. */
  readonly window: number;
}

/** Buckets tracked at once; past it the bucket whose window ends first is dropped (a flood of addresses cannot grow memory). */
const MAX_BUCKETS = 5000;

interface Bucket {
  count: number;
  readonly start: number;
}

/**
 * Fixed windows that start at a bucket's first request. All windows have the same length, so the Map's
 * insertion order is also expiry order: expired buckets are swept from its front.
 */
export class FixedWindows {
  readonly #buckets = new Map<string, Bucket>();
  readonly #window: number;
  readonly #capacity: number;

  constructor(window: number, capacity = MAX_BUCKETS) {
    this.#window = window;
    this.#capacity = capacity;
  }

  /** Counts one request for `key` at `now` (ms); returns the count in the current window and ms until it ends. */
  hit(key: string, now: number): { readonly count: number; readonly ttl: number } {
    let b = this.#buckets.get(key);
    if (b && b.start + this.#window <= now) {
      this.#buckets.delete(key);
      b = undefined;
    }
    if (!b) {
      this.#sweep(now);
      b = { count: 0, start: now };
      this.#buckets.set(key, b);
    }
    b.count++;
    return { count: b.count, ttl: b.start + this.#window - now };
  }

  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.start + this.#window > now && this.#buckets.size < this.#capacity) return;
      this.#buckets.delete(k);
    }
  }
}

/** Adds the limit to every route declared afterwards that is not a probe (call before the routes). */
export function registerRateLimit(app: FastifyInstance, keys: ApiKeyService | undefined, clock: Clock, options: RateLimitOptions): void {
  const { max_per_key, max_per_ip } = options;
  const windows = new FixedWindows(options.window);

  function rateLimit(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const keyId = keys?.verifiedKeyId(presentedKey(keys, request));
    const max = keyId ? max_per_key : max_per_ip;
    const { count, ttl } = windows.hit(keyId ? `key:${keyId}` : `ip:${request.ip}`, clock.monotonic());
    const resetSeconds = Math.ceil(ttl / 1000);
    void reply.header("x-ratelimit-limit", max);
    void reply.header("x-ratelimit-remaining", Math.max(0, max - count));
    void reply.header("x-ratelimit-reset", resetSeconds);
    if (count <= max) return done();
    const retryAfter = Math.max(1, resetSeconds);
    done(new ApiError("RATE_LIMITED", `Rate limit exceeded, retry in ${retryAfter} s`, { details: { limit: max, retry_after_seconds: retryAfter } }));
  }

  app.addHook("onRoute", (route) => {
    if (route.config?.probe) return;
    appendOnRequest(route, rateLimit as onRequestHookHandler);
  });
}
