import { z } from "zod";

const ms = z.number().int().positive();

/** The spec's HttpApiConfig plus auth, limits, rate limiting and key storage. Durations in ms, sizes in bytes. */
export const apiConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    bind_address: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65_535).default(8080),
    enable_cors: z.boolean().default(false),
    /** Origins allowed when enable_cors is on; empty allows none. */
    cors_origins: z.array(z.string()).default([]),
    /** Log a span (trace_id, span_id, duration) per request and per workflow step; echo `traceparent`. */
    enable_tracing: z.boolean().default(false),
    /** Off only with --insecure-no-auth on a loopback bind. */
    auth_required: z.boolean().default(true),
    /** Where API keys live: an SQLite file under data_dir, or process memory (tests, throwaway runs). */
    key_store: z.enum(["sqlite", "memory"]).default("sqlite"),
    /** Default body limit. */
    body_limit: z.number().int().positive().default(2 * 1024 * 1024),
    /** Body limit of the messaging routes. */
    message_body_limit: z.number().int().positive().default(256 * 1024),
    rate_limit: z
      .object({
        enabled: z.boolean().default(true),
        /** Requests per window for one authenticated key. */
        max_per_key: z.number().int().positive().default(100),
        /** Requests per window for one client address (unauthenticated or unknown key). */
        max_per_ip: z.number().int().positive().default(100),
        window: ms.default(60_000),
      })
      .strict()
      .prefault({}),
    /** Trust X-Forwarded-For (only behind a proxy you control). */
    trust_proxy: z.boolean().default(false),
    /** How long a verified key is accepted without re-running scrypt (revocation through the API is immediate). */
    key_cache_ttl: ms.default(60_000),
  })
  .strict();

export type ApiConfig = z.output<typeof apiConfigSchema>;
