/**
 * Turning zod failures into the runtime's typed errors: every bad field is listed with its dotted path.
 */
import type { z } from "zod";
import { ConfigurationError, ValidationError, type FieldIssue } from "./errors.js";

export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
  }));
}

/** Parses `input` with `schema`, throwing a ConfigurationError naming every bad field. */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ConfigurationError(what, fieldIssues(result.error));
  return result.data;
}

/** Parses `input` with `schema`, throwing a ValidationError naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(what, fieldIssues(result.error));
  return result.data;
}
