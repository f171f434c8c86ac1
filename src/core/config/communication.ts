import { z } from "zod";

/**
 * The spec's CommunicationConfig plus the transport choice and the envelope's algorithm. Durations in ms,
 * sizes in bytes.
 */
export const communicationConfigSchema = z
  .object({
    /** Upper bound on any message's life; a message's own `ttl` can only shorten it. */
    message_ttl: z.number().int().positive().default(3_600_000),
    /** Undelivered messages held per agent; one more is refused with AGENT_QUEUE_FULL. */
    max_queue_size: z.number().int().positive().default(1_000),
    /** How long a delivery (an onMessage handler, or an unacknowledged NATS message) may take before retry. */
    delivery_timeout: z.number().int().positive().default(30_000),
    /** Redeliveries after the first attempt before a message goes to the dead-letter queue. */
    retry_attempts: z.number().int().nonnegative().default(3),
    enable_encryption: z.boolean().default(true),
    enable_compression: z.boolean().default(true),
    /** Payloads larger than this many bytes are deflated before encryption (when enable_compression). */
    compression_threshold: z.number().int().nonnegative().default(4096),
    /** Largest payload (plaintext bytes) accepted by send. */
    max_message_size: z.number().int().positive().default(1024 * 1024),
    dead_letter_queue_size: z.number().int().positive().default(10_000),
    encryption_algorithm: z.enum(["Aes256Gcm", "ChaCha20Poly1305"]).default("Aes256Gcm"),
    transport: z.enum(["memory", "nats"]).default("memory"),
    nats_url: z.string().default("nats://127.0.0.1:4222"),
    /**
     * Runtime instances sharing a namespace on one NATS server deliver to each other's agents. Names the
     * JetStream streams (`SYMBIONT_<namespace>`, `..._DIR`, `..._STATUS`) and subjects (`symbiont.<namespace>.>`).
     */
    namespace: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, '_' and '-' only")
      .default("default"),
    /**
     * Worker threads that verify incoming signatures in parallel with the main thread (only public keys and
     * signed bytes cross to them). 0 verifies on the main thread.
     */
    verify_threads: z.number().int().min(0).max(16).default(1),
    /** How long to wait for the NATS server when connecting. */
    connect_timeout: z.number().int().positive().default(5_000),
  })
  .strict();

export type CommunicationConfig = z.output<typeof communicationConfigSchema>;
