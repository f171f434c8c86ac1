/**
 * Token-stream plumbing shared by the parser layers: lookahead, expectations that produce
 * "expected X, found Y" diagnostics, and the `Sync` signal used to recover at statement, member and item
 * boundaries so one run reports several errors.
 */
import type { Position, Span } from "./ast.js";
import type { Diagnostic } from "./diagnostics.js";
import type { Token } from "./lexer.js";

/** Thrown after a diagnostic is recorded; caught where the parser can resynchronise. */
export class Sync extends Error {
  constructor() {
    super("sync");
  }
}

export function describeToken(t: Token): string {
  switch (t.type) {
    case "eof":
      return "end of file";
    case "string":
      return `string ${t.raw.length > 24 ? `${t.raw.slice(0, 21)}..."` : t.raw}`;
    case "number":
      return `number ${t.value}`;
    case "duration":
      return `duration ${t.value}`;
    case "vault":
      return `vault reference ${t.raw}`;
    default:
      return `'${t.value}'`;
  }
}

export function spanFrom(start: Span, end: Span): Span {
  return { start: start.start, end: end.end };
}

export class TokenStream {
  protected pos = 0;
  readonly diagnostics: Diagnostic[] = [];

  constructor(protected readonly tokens: readonly Token[]) {}

  protected peek(k = 0): Token {
    return this.tokens[Math.min(this.pos + k, this.tokens.length - 1)] as Token;
  }

  protected next(): Token {
    const t = this.peek();
    if (t.type !== "eof") this.pos++;
    return t;
  }

  /** The last consumed token (for spans that end at it). */
  protected prev(): Token {
    return this.tokens[Math.max(0, this.pos - 1)] as Token;
  }

  protected isPunct(value: string, k = 0): boolean {
    const t = this.peek(k);
    return t.type === "punct" && t.value === value;
  }

  protected isWord(value?: string, k = 0): boolean {
    const t = this.peek(k);
    return t.type === "ident" && (value === undefined || t.value === value);
  }

  protected eatPunct(value: string): boolean {
    if (!this.isPunct(value)) return false;
    this.pos++;
    return true;
  }

  protected report(span: Span, message: string): void {
    this.diagnostics.push({ span, message });
  }

  protected fail(span: Span, message: string): never {
    this.report(span, message);
    throw new Sync();
  }

  /** Consumes `value` or reports "expected `value` <context>, found ..." at the offending token. */
  protected expectPunct(value: string, context: string): Token {
    const t = this.peek();
    if (t.type === "punct" && t.value === value) return this.next();
    return this.fail(t.span, `expected '${value}' ${context}, found ${describeToken(t)}`);
  }

  protected expectIdent(what: string): Token {
    const t = this.peek();
    if (t.type === "ident") return this.next();
    return this.fail(t.span, `expected ${what}, found ${describeToken(t)}`);
  }

  protected expectWord(word: string, context: string): Token {
    const t = this.peek();
    if (t.type === "ident" && t.value === word) return this.next();
    return this.fail(t.span, `expected '${word}' ${context}, found ${describeToken(t)}`);
  }

  /**
   * A missing `;` is reported just after the previous token (where it belongs), then parsing goes on as if it
   * were there.
   */
  protected expectSemicolon(context: string): void {
    if (this.eatPunct(";")) return;
    const end: Position = this.prev().span.end;
    this.report({ start: end, end }, `expected ';' ${context}, found ${describeToken(this.peek())}`);
  }

  /** The closing `}` of a block opened at `open`; at end of file the message says where the block began. */
  protected expectClose(open: Token, what: string): Token {
    const t = this.peek();
    if (t.type === "punct" && t.value === "}") return this.next();
    const where = `${open.span.start.line}:${open.span.start.col}`;
    return this.fail(t.span, `expected '}' to close the ${what} opened at ${where}, found ${describeToken(t)}`);
  }

  /**
   * Skips to just after the next `;` or to the next `}` closing the current nesting level (not consumed), or
   * to a token for which `stop` says a new construct starts. Always makes progress.
   */
  protected recover(stop: (t: Token, k: number) => boolean): void {
    let depth = 0;
    const startPos = this.pos;
    for (;;) {
      const t = this.peek();
      if (t.type === "eof") return;
      if (depth === 0 && this.pos > startPos && stop(t, 0)) return;
      if (t.type === "punct") {
        if (t.value === "{" || t.value === "(" || t.value === "[") depth++;
        else if (t.value === "}" || t.value === ")" || t.value === "]") {
          if (depth === 0) {
            if (t.value === "}") return;
          } else depth--;
        } else if (t.value === ";" && depth === 0) {
          this.next();
          return;
        }
      }
      this.next();
    }
  }
}
