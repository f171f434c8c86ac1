/**
 * Problems found in a `.symbi` file: a message a person can act on and the span it is about. `formatDiagnostic`
 * gives the `file:line:col: message` form the CLI prints.
 */
import type { Span } from "./ast.js";

export interface Diagnostic {
  readonly message: string;
  readonly span: Span;
}

export function formatDiagnostic(file: string, d: Diagnostic): string {
  return `${file}:${d.span.start.line}:${d.span.start.col}: ${d.message}`;
}
