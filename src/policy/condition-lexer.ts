/**
 * Tokens of the rule condition language, which follows the expression syntax of the Symbiont DSL (strings in
 * double quotes, numbers with `_` separators, integer durations such as `30s` or `5.minutes`, `//` and `#`
 * comments). Every token carries its offset so errors can name a line and column.
 */
import { PolicySyntaxError } from "./errors.js";

export type TokenKind = "num" | "str" | "id" | "op" | "eof";

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** Parsed value of `num` (durations already in ms) and `str` tokens. */
  readonly value?: number | string;
  readonly offset: number;
}

const DURATION_MS: Readonly<Record<string, number>> = {
  ".seconds": 1_000,
  ".minutes": 60_000,
  ".hours": 3_600_000,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  months: 2_592_000_000,
  y: 31_536_000_000,
};

const OPERATORS = ["&&", "||", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "!", "(", ")", "[", "]", ",", "."];

const NUMBER = /\d+(?:_\d+)*(?:\.\d+)?/y;
const DURATION = /(\d+(?:_\d+)*)(\.seconds|\.minutes|\.hours|months|s|m|h|d|w|y)(?![A-Za-z0-9_])/y;
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const STRING = /"((?:\\.|[^"\\])*)"/y;

function unescape(body: string): string {
  return body.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
}

/** Splits `source` into tokens, ending with one `eof` token. Throws PolicySyntaxError on a stray character. */
export function tokenize(source: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    if (c === "#" || (c === "/" && source[i + 1] === "/")) {
      while (i < source.length && source[i] !== "\n") i++;
      continue;
    }
    if (c === '"') {
      STRING.lastIndex = i;
      const m = STRING.exec(source);
      if (!m) throw new PolicySyntaxError("unterminated string", source, i);
      out.push({ kind: "str", text: m[0], value: unescape(m[1] as string), offset: i });
      i += m[0].length;
      continue;
    }
    if (c >= "0" && c <= "9") {
      DURATION.lastIndex = i;
      const d = DURATION.exec(source);
      if (d) {
        const n = Number((d[1] as string).replace(/_/g, ""));
        out.push({ kind: "num", text: d[0], value: n * (DURATION_MS[d[2] as string] as number), offset: i });
        i += d[0].length;
        continue;
      }
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(source) as RegExpExecArray;
      out.push({ kind: "num", text: m[0], value: Number(m[0].replace(/_/g, "")), offset: i });
      i += m[0].length;
      continue;
    }
    IDENT.lastIndex = i;
    const id = IDENT.exec(source);
    if (id) {
      out.push({ kind: "id", text: id[0], offset: i });
      i += id[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (!op) throw new PolicySyntaxError(`unexpected character '${c}'`, source, i);
    out.push({ kind: "op", text: op, offset: i });
    i += op.length;
  }
  out.push({ kind: "eof", text: "end of condition", offset: source.length });
  return out;
}
