/**
 * Request rate limits: fixed windows per verified API key (`max_per_key`) and per client address for
 * everything else (`max_per_ip`: no key, a malformed one, or a secret not yet verified — so guessing
 * secrets for a known key id is throttled by address before any scrypt work). Every limited answer
 * carries `x-ratelimit-limit`, `-remaining` and `-reset` (seconds); past the limit the answer is 429
 * RATE_LIMITED with `retry-after`. Health probes (`probe` routes) are never limited.
 *
 * The check runs synchronously in a route-level onRequest hook (see `registerAuth`): a plugin-style limiter
 * awaits its key generator, its limit and its store on every request, and those promises cost more than the
 * counting itself.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Clock } from "../core/clock.js";
import { ApiError } from "../core/errors.js";

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

/**
 * Counts requests per verified key and per address. `registerAuth` calls `check` from the same route-level
 * hook that authenticates, so both share one lookup of the caller's key.
 */
export class RateLimiter {
  readonly #clock: Clock;
  readonly #maxPerKey: number;
  readonly #maxPerIp: number;
  // Header values that never change, as strings: a number would be converted for validation and again for the wire.
  readonly #keyLimit: string;
  readonly #ipLimit: string;
  // Separate windows for keys and addresses, so a bucket's name is the key id or the address as is.
  readonly #byKey: FixedWindows;
  readonly #byAddress: FixedWindows;

  constructor(clock: Clock, options: RateLimitOptions) {
    this.#clock = clock;
    this.#maxPerKey = options.max_per_key;
    this.#maxPerIp = options.max_per_ip;
    this.#keyLimit = String(options.max_per_key);
    this.#ipLimit = String(options.max_per_ip);
    this.#byKey = new FixedWindows(options.window);
    this.#byAddress = new FixedWindows(options.window);
  }

  /**
   * Counts one request against the verified key `keyId` or, without one, the request's address; sets the
   * x-ratelimit-* headers and returns RATE_LIMITED past the limit.
   */
  check(keyId: string | undefined, request: FastifyRequest, reply: FastifyReply): ApiError | undefined {
    const now = this.#clock.monotonic();
    const { count, ttl } = keyId ? this.#byKey.hit(keyId, now) : this.#byAddress.hit(request.ip, now);
    const max = keyId ? this.#maxPerKey : this.#maxPerIp;
    const resetSeconds = Math.ceil(ttl / 1000);
    void reply.header("x-ratelimit-limit", keyId ? this.#keyLimit : this.#ipLimit);
    void reply.header("x-ratelimit-remaining", String(Math.max(0, max - count)));
    void reply.header("x-ratelimit-reset", String(resetSeconds));
    if (count <= max) return undefined;
    const retryAfter = Math.max(1, resetSeconds);
    return new ApiError("RATE_LIMITED", `Rate limit exceeded, retry in ${retryAfter} s`, { details: { limit: max, retry_after_seconds: retryAfter } });
  }
}
