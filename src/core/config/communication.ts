import { z } from "zod";

/** The spec's CommunicationConfig plus the transport choice. Durations in ms, sizes in bytes. */
export const communicationConfigSchema = z
  .object({
    message_ttl: z.number().int().positive().default(3_600_000),
    max_queue_size: z.number().int().positive().default(1_000),
    delivery_timeout: z.number().int().positive().default(30_000),
    retry_attempts: z.number().int().nonnegative().default(3),
    enable_encryption: z.boolean().default(true),
    enable_compression: z.boolean().default(true),
    max_message_size: z.number().int().positive().default(1024 * 1024),
    dead_letter_queue_size: z.number().int().positive().default(10_000),
    encryption_algorithm: z.enum(["Aes256Gcm", "ChaCha20Poly1305"]).default("Aes256Gcm"),
    transport: z.enum(["memory", "nats"]).default("memory"),
    nats_url: z.string().default("nats://127.0.0.1:4222"),
  })
  .strict();

export type CommunicationConfig = z.output<typeof communicationConfigSchema>;
