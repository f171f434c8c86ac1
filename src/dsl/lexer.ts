/**
 * Tokenizer for `.symbi` files. Keywords are contextual, so every word is an `ident` token and the parser
 * decides. Malformed input (bad durations, unterminated strings, stray characters) becomes a diagnostic and
 * lexing continues, so one pass can report several problems.
 */
import type { Comment, DurationUnit, Position, Span } from "./ast.js";
import type { Diagnostic } from "./diagnostics.js";

export type TokenType = "ident" | "string" | "number" | "duration" | "vault" | "punct" | "eof";

export interface Token {
  readonly type: TokenType;
  /** Identifier name, punctuation text, string contents (unescaped), number text, vault path, duration text. */
  readonly value: string;
  readonly span: Span;
  /** For strings: the source text including quotes. */
  readonly raw: string;
}

const PUNCT2 = ["->", "=>", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "%="];
const PUNCT1 = "{}()[],;:.=<>+-*/%!";

const WORD_UNITS: Readonly<Record<string, DurationUnit>> = { seconds: ".seconds", minutes: ".minutes", hours: ".hours" };
const SUFFIX_UNITS = new Set(["s", "m", "h", "d", "w", "months", "y"]);

const UNIT_MS: Readonly<Record<DurationUnit, number>> = {
  ".seconds": 1_000,
  ".minutes": 60_000,
  ".hours": 3_600_000,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  months: 30 * 86_400_000,
  y: 365 * 86_400_000,
};

/** Milliseconds in `amount` of `unit`. */
export function durationMs(amount: number, unit: DurationUnit): number {
  return amount * UNIT_MS[unit];
}

/** Splits a duration token's text into amount and unit. */
export function splitDuration(text: string): { amount: number; unit: DurationUnit } {
  const m = /^([\d_]+)(.*)$/.exec(text) as RegExpExecArray;
  return { amount: Number((m[1] as string).replace(/_/g, "")), unit: m[2] as DurationUnit };
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";
const isIdStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_");
const isIdChar = (c: string | undefined): boolean => isIdStart(c) || isDigit(c);

export interface LexResult {
  readonly tokens: Token[];
  readonly comments: Comment[];
  readonly diagnostics: Diagnostic[];
}

export function lex(source: string): LexResult {
  const tokens: Token[] = [];
  const comments: Comment[] = [];
  const diagnostics: Diagnostic[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (at: number): Position => ({ line, col: at - lineStart + 1, offset: at });
  const span = (a: number, b: number): Span => ({ start: pos(a), end: pos(b) });
  const error = (a: number, b: number, message: string): void => {
    diagnostics.push({ message, span: span(a, b) });
  };

  while (i < source.length) {
    const c = source[i] as string;
    if (c === "\n") {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    const start = i;
    if (c === "#" || (c === "/" && source[i + 1] === "/")) {
      const marker = c === "#" ? "#" : "//";
      let j = i + marker.length;
      while (j < source.length && source[j] !== "\n") j++;
      comments.push({ marker, text: source.slice(i + marker.length, j).replace(/\r$/, ""), span: span(i, j) });
      i = j;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let value = "";
      let closed = false;
      while (j < source.length) {
        const d = source[j] as string;
        if (d === '"') {
          closed = true;
          j++;
          break;
        }
        if (d === "\n") break;
        if (d === "\\") {
          const e = source[j + 1];
          const map: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", "0": "\0" };
          if (e !== undefined && e in map) value += map[e];
          else if (e !== undefined && e !== "\n") value += e;
          j += 2;
          continue;
        }
        value += d;
        j++;
      }
      if (!closed) error(start, j, "unterminated string: expected a closing '\"' before the end of the line");
      tokens.push({ type: "string", value, raw: source.slice(start, j), span: span(start, j) });
      i = j;
      continue;
    }
    if (isDigit(c)) {
      i = lexNumber(source, i, tokens, span, error);
      continue;
    }
    if (isIdStart(c)) {
      let j = i + 1;
      while (isIdChar(source[j])) j++;
      const word = source.slice(i, j);
      if (word === "vault" && source.startsWith("://", j)) {
        let k = j + 3;
        while (k < source.length && /[A-Za-z0-9_\-/.]/.test(source[k] as string)) k++;
        if (k === j + 3) error(start, k, "empty vault reference: expected a path after 'vault://'");
        tokens.push({ type: "vault", value: source.slice(j + 3, k), raw: source.slice(start, k), span: span(start, k) });
        i = k;
        continue;
      }
      tokens.push({ type: "ident", value: word, raw: word, span: span(start, j) });
      i = j;
      continue;
    }
    const two = source.slice(i, i + 2);
    const p = (PUNCT2.includes(two) ? two : PUNCT1.includes(c) ? c : undefined);
    if (p) {
      tokens.push({ type: "punct", value: p, raw: p, span: span(i, i + p.length) });
      i += p.length;
      continue;
    }
    if (c === "'") {
      // Read the whole single-quoted string so the closing quote is not a second error.
      let j = i + 1;
      while (j < source.length && source[j] !== "'" && source[j] !== "\n") j++;
      const end = source[j] === "'" ? j + 1 : j;
      error(i, end, "strings use double quotes: found \"'\"");
      tokens.push({ type: "string", value: source.slice(i + 1, source[j] === "'" ? j : end), raw: source.slice(i, end), span: span(i, end) });
      i = end;
      continue;
    }
    if (c === "&" || c === "|") error(i, i + 1, `unexpected '${c}': did you mean '${c}${c}'?`);
    else error(i, i + 1, `unexpected character ${JSON.stringify(c)}`);
    i++;
  }
  tokens.push({ type: "eof", value: "", raw: "", span: span(i, i) });
  return { tokens, comments, diagnostics };
}

function lexNumber(
  source: string,
  start: number,
  tokens: Token[],
  span: (a: number, b: number) => Span,
  error: (a: number, b: number, message: string) => void,
): number {
  let j = start;
  const digits = (): void => {
    while (isDigit(source[j])) j++;
    while (source[j] === "_" && isDigit(source[j + 1])) {
      j++;
      while (isDigit(source[j])) j++;
    }
  };
  digits();
  const intEnd = j;
  // `30.seconds` is one token; `500.milliseconds` is a bad unit, not a member access on a number.
  if (source[j] === "." && isIdStart(source[j + 1])) {
    let k = j + 1;
    while (isIdChar(source[k])) k++;
    const word = source.slice(j + 1, k);
    const unit = WORD_UNITS[word];
    if (unit) tokens.push({ type: "duration", value: source.slice(start, k), raw: source.slice(start, k), span: span(start, k) });
    else {
      error(start, k, `invalid duration unit '.${word}': use .seconds, .minutes, .hours or s, m, h, d, w, months, y`);
      tokens.push({ type: "number", value: source.slice(start, intEnd), raw: source.slice(start, intEnd), span: span(start, k) });
    }
    return k;
  }
  let isFloat = false;
  if (source[j] === ".") {
    if (isDigit(source[j + 1])) {
      j++;
      while (isDigit(source[j])) j++;
      isFloat = true;
    } else {
      error(start, j + 1, "a number cannot end with '.': write the digits after the point, e.g. 1.0");
      j++;
      tokens.push({ type: "number", value: source.slice(start, j - 1), raw: source.slice(start, j - 1), span: span(start, j) });
      return j;
    }
  }
  if (isIdStart(source[j])) {
    let k = j;
    while (isIdChar(source[k])) k++;
    const suffix = source.slice(j, k);
    if (!isFloat && SUFFIX_UNITS.has(suffix)) {
      tokens.push({ type: "duration", value: source.slice(start, k), raw: source.slice(start, k), span: span(start, k) });
      return k;
    }
    error(
      start,
      k,
      isFloat && SUFFIX_UNITS.has(suffix)
        ? `durations take whole numbers: '${source.slice(start, k)}' has a fraction (use a smaller unit)`
        : `invalid duration unit '${suffix}': use s, m, h, d, w, months, y or .seconds, .minutes, .hours`,
    );
    tokens.push({ type: "number", value: source.slice(start, j), raw: source.slice(start, j), span: span(start, k) });
    return k;
  }
  tokens.push({ type: "number", value: source.slice(start, j), raw: source.slice(start, j), span: span(start, j) });
  return j;
}
