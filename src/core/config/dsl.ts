import { z } from "zod";

/** Agent DSL: interpreter limits, declared tools and the LLM provider. */
export const dslConfigSchema = z
  .object({
    /** Statements, loop iterations and calls one run of an agent body may take. */
    max_steps: z.number().int().positive().default(50_000_000),
    /** Nested function/lambda calls. */
    max_call_depth: z.number().int().positive().max(10_000).default(200),
    /** Heap cap of the interpreter's worker thread, MB (an agent's max_memory_mb lowers it). */
    max_memory_mb: z.number().int().min(32).max(16_384).default(256),
    /** Wall-clock cap of one run, ms, when the agent sets no timeout lower than this. */
    max_run_ms: z.number().int().positive().default(300_000),
    /** Interpreter threads kept and reused across runs; more concurrent runs wait for one. */
    max_workers: z.number().int().min(1).max(64).default(4),
    /** Commands agents call by name, run in the agent's sandbox. */
    tools: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a tool name is an identifier"),
            command: z.string().min(1),
            args: z.array(z.string()).default([]),
            description: z.string().optional(),
            timeout_ms: z.number().int().positive().optional(),
            network: z.boolean().default(false),
          })
          .strict(),
      )
      .default([]),
    /** OpenAI-compatible provider for reason()/llm_call(); calls fail with LLM_NOT_CONFIGURED without base_url. */
    llm: z
      .object({
        base_url: z.string().url().optional(),
        api_key: z.string().optional(),
        model: z.string().min(1).default("gpt-4o-mini"),
        timeout_ms: z.number().int().positive().default(60_000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type DslConfig = z.output<typeof dslConfigSchema>;
