/**
 * The workflow file format (YAML or JSON), validated with zod. The same schema validates files, API bodies
 * and generates the OpenAPI description.
 *
 * @example
 * id: data-processing
 * steps:
 *   - id: fetch
 *     agent: { name: fetcher }
 *     input: { file: "{{ parameters.input_file }}" }
 *   - id: convert
 *     agent: { capability: "Custom(convert)" }
 *     input: { records: "{{ steps.fetch.output.records }}", format: "{{ parameters.output_format }}" }
 *     timeout: 30000
 *     retries: 2
 * output: "{{ steps.convert.output }}"
 */
import { z } from "zod";

export const WORKFLOW_LIMITS = { steps: 256, idLength: 128 } as const;

const identifier = z
  .string()
  .min(1)
  .max(WORKFLOW_LIMITS.idLength)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "letters, digits, '_', '.', '-'; starting with a letter or digit");

export const stepAgentSelectorSchema = z.union([
  z.object({ id: z.string().uuid() }).strict(),
  z.object({ name: z.string().min(1).max(128) }).strict(),
  z.object({ capability: z.string().min(1).max(140) }).strict(),
]);

export const workflowStepSchema = z
  .object({
    id: identifier,
    /** Which agent runs the step; when absent, the `agent_id` given with the call. */
    agent: stepAgentSelectorSchema.optional(),
    /** Any JSON; strings `{{ parameters.x }}` / `{{ steps.<id>.output.y }}` are replaced by those values. */
    input: z.unknown().optional(),
    /** Steps that must succeed first (references in `input` add their steps too). */
    depends_on: z.array(identifier).max(WORKFLOW_LIMITS.steps).default([]),
    /** ms; defaults to workflows.default_step_timeout. */
    timeout: z.number().int().positive().max(86_400_000).optional(),
    /** Further attempts after a failure or timeout. */
    retries: z.number().int().min(0).max(10).default(0),
    /** ms before the first retry; doubles for each next one. */
    retry_backoff: z.number().int().min(0).max(3_600_000).default(1_000),
  })
  .strict();

export const workflowDefinitionSchema = z
  .object({
    id: identifier,
    name: z.string().max(256).optional(),
    description: z.string().max(4096).optional(),
    /** Parameters a call must supply. */
    required_parameters: z.array(z.string().min(1).max(128)).max(256).default([]),
    steps: z.array(workflowStepSchema).min(1).max(WORKFLOW_LIMITS.steps),
    /** Template of the result; by default the sink step's output (or sink outputs keyed by step id). */
    output: z.unknown().optional(),
  })
  .strict();

export type WorkflowDefinition = z.output<typeof workflowDefinitionSchema>;
export type WorkflowDefinitionInput = z.input<typeof workflowDefinitionSchema>;
export type WorkflowStep = z.output<typeof workflowStepSchema>;
export type StepAgentSelector = z.output<typeof stepAgentSelectorSchema>;
