/**
 * Recursive-descent parser for `.symbi` files (grammar: shared/spec/dsl.md). `parse` never throws on bad
 * input: it returns the tree it could build plus every diagnostic, recovering at item, member and statement
 * boundaries.
 *
 * @example
 * const { program, diagnostics } = parse(source);
 * for (const d of diagnostics) console.error(formatDiagnostic("agent.symbi", d));
 */
import type {
  AgentDecl,
  AgentMember,
  Attr,
  AttrValue,
  ChannelBlock,
  Comment,
  DataClassification,
  FunctionDecl,
  Item,
  ListExpr,
  Param,
  PolicyBlock,
  PolicyEffect,
  PolicyRuleNode,
  Program,
  RecordField,
  Span,
  SubBlock,
  TypeDef,
  TypeRef,
  WithBlock,
} from "./ast.js";
import type { Diagnostic } from "./diagnostics.js";
import { lex, type Token } from "./lexer.js";
import { Sync, describeToken, spanFrom } from "./parser-base.js";
import { ExprParser } from "./parser-expr.js";

const ITEM_WORDS = ["metadata", "agent", "policy", "type", "function", "schedule", "channel", "memory", "webhook"];
const UNSUPPORTED_ITEMS: Readonly<Record<string, string>> = {
  tool: "'tool' declarations are not part of the DSL: declare tools in the runtime config (dsl.tools)",
  import: "'import' is not supported: each .symbi file stands alone",
  struct: "'struct' is not supported: use 'type Name = { field: type }'",
  enum: "'enum' is not supported: use strings and 'match'",
  macro: "'macro' is not supported",
};
const AGENT_MEMBERS = ["capabilities", "policy", "function", "with"];
const EFFECTS = new Set<PolicyEffect>(["allow", "deny", "require", "audit"]);

export interface ParseResult {
  readonly program: Program;
  readonly diagnostics: readonly Diagnostic[];
}

export function parse(source: string): ParseResult {
  const lexed = lex(source);
  const parser = new Parser(lexed.tokens, lexed.comments);
  const program = parser.parseProgram();
  const diagnostics = [...lexed.diagnostics, ...parser.diagnostics].sort(
    (a, b) => a.span.start.offset - b.span.start.offset,
  );
  return { program, diagnostics };
}

class Parser extends ExprParser {
  constructor(
    tokens: readonly Token[],
    private readonly comments: readonly Comment[],
  ) {
    super(tokens);
  }

  parseProgram(): Program {
    const items: Item[] = [];
    const first = this.peek();
    while (this.peek().type !== "eof") {
      try {
        items.push(this.parseItem());
      } catch (e) {
        if (!(e instanceof Sync)) throw e;
        this.skipToItem();
      }
    }
    const end = this.peek();
    return { kind: "Program", items, comments: this.comments, span: spanFrom(first.span, end.span) };
  }

  /** Skips to the next item keyword at the start of a line outside any braces. */
  private skipToItem(): void {
    let depth = 0;
    const startPos = this.pos;
    for (;;) {
      const t = this.peek();
      if (t.type === "eof") return;
      if (depth <= 0 && this.pos > startPos && t.type === "ident" && ITEM_WORDS.includes(t.value) && t.span.start.col === 1) return;
      if (t.type === "punct" && t.value === "{") depth++;
      if (t.type === "punct" && t.value === "}") depth--;
      this.next();
    }
  }

  private parseItem(): Item {
    const t = this.peek();
    if (t.type === "ident") {
      switch (t.value) {
        case "metadata":
          return this.parseMetadata();
        case "agent":
          return this.parseAgent();
        case "policy":
          return this.parsePolicy();
        case "type":
          return this.parseTypeDef();
        case "function":
          return this.parseFunction();
        case "schedule":
          return this.parseAttrItem("Schedule");
        case "channel":
          return this.parseChannel();
        case "memory":
          return this.parseMemoryOrWebhook("Memory", "search");
        case "webhook":
          return this.parseMemoryOrWebhook("Webhook", "filter");
      }
      const hint = UNSUPPORTED_ITEMS[t.value];
      if (hint) this.fail(t.span, hint);
    }
    return this.fail(t.span, `expected a top-level item (${ITEM_WORDS.join(", ")}), found ${describeToken(t)}`);
  }

  private parseMetadata(): Item {
    const start = this.next();
    const open = this.expectPunct("{", "after 'metadata'");
    const attrs = this.parseAttrs(open, "metadata block", { seps: ["=", ":"], values: "any" });
    this.next();
    return { kind: "Metadata", attrs, span: spanFrom(start.span, this.prev().span) };
  }

  /**
   * `key (=|:) value ,?` entries up to the closing `}` (left for the caller). `values` limits what a value may be:
   * `scalar` (value), `list` (value or array), `any` (value, array or record).
   */
  private parseAttrs(
    open: Token,
    what: string,
    opts: { seps: readonly string[]; values: "scalar" | "list" | "any"; sub?: (t: Token) => boolean },
  ): Attr[] {
    const attrs: Attr[] = [];
    while (!this.isPunct("}")) {
      const k = this.peek();
      if (k.type === "eof") this.expectClose(open, what);
      if (opts.sub?.(k)) return attrs;
      if (k.type !== "ident") this.fail(k.span, `expected an attribute name or '}' in the ${what}, found ${describeToken(k)}`);
      this.next();
      let sep: Attr["sep"] = "";
      if (opts.seps.length) {
        const s = this.peek();
        if (s.type === "punct" && opts.seps.includes(s.value)) sep = this.next().value as "=" | ":";
        else this.fail(s.span, `expected ${opts.seps.map((x) => `'${x}'`).join(" or ")} after '${k.value}', found ${describeToken(s)}`);
      } else if (this.isPunct(":") || this.isPunct("=")) {
        this.fail(this.peek().span, `${what} attributes take no '${this.peek().value}': write '${k.value} value'`);
      }
      const value = this.parseAttrValue(opts.values, `'${k.value}'`);
      attrs.push({ kind: "Attr", key: k.value, sep, value, span: spanFrom(k.span, value.span) });
      this.eatPunct(",");
      if (this.isPunct(";")) this.fail(this.peek().span, `attributes are separated by ',' or new lines, not ';'`);
    }
    return attrs;
  }

  private parseAttrValue(values: "scalar" | "list" | "any", what: string): AttrValue {
    const t = this.peek();
    if (t.type === "string" || t.type === "number" || t.type === "duration") {
      this.next();
      return this.literalFrom(t);
    }
    if (t.type === "ident") {
      this.next();
      if (t.value === "true" || t.value === "false") return { kind: "Literal", type: "bool", value: t.value === "true", span: t.span };
      return { kind: "Ident", name: t.value, span: t.span };
    }
    if (t.type === "punct" && t.value === "[" && values !== "scalar") {
      this.next();
      const items: AttrValue[] = [];
      while (!this.isPunct("]")) {
        if (this.peek().type === "eof") this.fail(this.peek().span, `expected ']' to close the list opened at ${t.span.start.line}:${t.span.start.col}, found end of file`);
        items.push(this.parseAttrValue(values, "a list element"));
        if (!this.eatPunct(",") && !this.isPunct("]")) this.fail(this.peek().span, `expected ',' or ']' in the list, found ${describeToken(this.peek())}`);
      }
      this.next();
      return { kind: "List", items, span: spanFrom(t.span, this.prev().span) };
    }
    if (t.type === "punct" && t.value === "{" && values === "any") {
      this.next();
      const fields: RecordField[] = [];
      while (!this.isPunct("}")) {
        const k = this.peek();
        if (k.type !== "ident" && k.type !== "string") this.fail(k.span, `expected a field name or '}', found ${describeToken(k)}`);
        this.next();
        const s = this.peek();
        if (!this.eatPunct(":") && !this.eatPunct("=")) this.fail(s.span, `expected ':' after '${k.value}', found ${describeToken(s)}`);
        const value = this.parseAttrValue(values, `'${k.value}'`);
        fields.push({ key: k.value, quoted: k.type === "string", value, span: spanFrom(k.span, value.span) });
        this.eatPunct(",");
      }
      this.next();
      return { kind: "Record", fields, span: spanFrom(t.span, this.prev().span) };
    }
    if (t.type === "punct" && t.value === "-") this.fail(t.span, `negative values are not allowed for ${what}`);
    const allowed = values === "scalar" ? "a string, number, duration, boolean or name" : values === "list" ? "a value or a [list]" : "a value, a [list] or a {record}";
    return this.fail(t.span, `expected ${allowed} for ${what}, found ${describeToken(t)}`);
  }

  private parseType(): TypeRef {
    const name = this.expectIdent("a type name");
    const args: TypeRef[] = [];
    if (this.eatPunct("<")) {
      do args.push(this.parseType());
      while (this.eatPunct(","));
      this.expectPunct(">", "to close the type arguments");
    }
    return { kind: "TypeRef", name: name.value, args, span: spanFrom(name.span, this.prev().span) };
  }

  private parseParams(): Param[] {
    const open = this.expectPunct("(", "to open the parameter list");
    const params: Param[] = [];
    while (!this.isPunct(")")) {
      if (this.peek().type === "eof") this.fail(this.peek().span, `expected ')' to close the parameters opened at ${open.span.start.line}:${open.span.start.col}, found end of file`);
      const n = this.expectIdent("a parameter name");
      this.expectPunct(":", `after parameter '${n.value}' (parameters need a type)`);
      const type = this.parseType();
      if (this.isPunct("=")) this.fail(this.peek().span, "parameters cannot have default values");
      params.push({ name: n.value, type, span: spanFrom(n.span, type.span) });
      this.eatPunct(",");
    }
    this.next();
    return params;
  }

  private parseAgent(): AgentDecl {
    const start = this.next();
    const name = this.expectIdent("an agent name after 'agent'");
    const params = this.isPunct("(") ? this.parseParams() : undefined;
    const returnType = this.eatPunct("->") ? this.parseType() : undefined;
    const open = this.expectPunct("{", `to open agent '${name.value}'`);
    const members: AgentMember[] = [];
    while (!this.isPunct("}") && this.peek().type !== "eof") {
      try {
        members.push(this.parseAgentMember());
      } catch (e) {
        if (!(e instanceof Sync)) throw e;
        this.recover((t) => t.type === "ident" && AGENT_MEMBERS.includes(t.value) && t.span.start.line > this.prev().span.end.line);
      }
    }
    this.expectClose(open, `agent '${name.value}'`);
    return { kind: "Agent", name: name.value, nameSpan: name.span, params, returnType, members, span: spanFrom(start.span, this.prev().span) };
  }

  private parseAgentMember(): AgentMember {
    const t = this.peek();
    if (this.isWord("capabilities")) {
      this.next();
      const s = this.peek();
      if (!this.eatPunct("=") && !this.eatPunct(":")) this.fail(s.span, `expected '=' or ':' after 'capabilities', found ${describeToken(s)}`);
      if (!this.isPunct("[")) this.fail(this.peek().span, `expected a [list] of capabilities, found ${describeToken(this.peek())}`);
      const list = this.parseAttrValue("list", "capabilities") as ListExpr;
      this.eatPunct(",");
      return { kind: "Capabilities", sep: s.value as "=" | ":", list, span: spanFrom(t.span, list.span) };
    }
    if (this.isWord("policy")) return this.parsePolicy();
    if (this.isWord("function")) return this.parseFunction();
    if (this.isWord("with")) return this.parseWith();
    if (t.type === "ident" && UNSUPPORTED_ITEMS[t.value]) this.fail(t.span, UNSUPPORTED_ITEMS[t.value] as string);
    return this.fail(
      t.span,
      `expected 'capabilities', 'policy', 'function' or 'with' in the agent, found ${describeToken(t)} (statements belong in a 'with' block or a function)`,
    );
  }

  private parsePolicy(): PolicyBlock {
    const start = this.next();
    const name = this.expectIdent("a policy name after 'policy'");
    const open = this.expectPunct("{", `to open policy '${name.value}'`);
    const rules = this.parseRules(open, `policy '${name.value}'`);
    return { kind: "Policy", name: name.value, rules, span: spanFrom(start.span, this.prev().span) };
  }

  private parseRules(open: Token, what: string): PolicyRuleNode[] {
    const rules: PolicyRuleNode[] = [];
    while (!this.isPunct("}")) {
      const t = this.peek();
      if (t.type === "eof") this.expectClose(open, what);
      if (!(t.type === "ident" && EFFECTS.has(t.value as PolicyEffect))) {
        this.fail(t.span, `expected a policy rule (allow, deny, require or audit) or '}' in ${what}, found ${describeToken(t)}`);
      }
      this.next();
      this.expectPunct(":", `after '${t.value}'`);
      const expr = this.parseExpr();
      let condition;
      if (this.isWord("if")) {
        this.next();
        condition = this.parseExpr();
      }
      rules.push({ kind: "PolicyRule", effect: t.value as PolicyEffect, expr, condition, span: spanFrom(t.span, this.prev().span) });
      if (this.isPunct(",") || this.isPunct(";")) {
        this.report(this.peek().span, `policy rules take no separator: remove '${this.peek().value}'`);
        this.next();
      }
    }
    this.next();
    return rules;
  }

  private parseTypeDef(): TypeDef {
    const start = this.next();
    const name = this.expectIdent("a type name after 'type'");
    if (this.isPunct("<")) this.fail(this.peek().span, "type definitions cannot be generic");
    this.expectPunct("=", `after 'type ${name.value}'`);
    if (this.isPunct("{")) {
      const open = this.next();
      const fields: Param[] = [];
      while (!this.isPunct("}")) {
        if (this.peek().type === "eof") this.expectClose(open, `type '${name.value}'`);
        const f = this.expectIdent("a field name or '}'");
        this.expectPunct(":", `after field '${f.value}'`);
        const type = this.parseType();
        fields.push({ name: f.value, type, span: spanFrom(f.span, type.span) });
        this.eatPunct(",");
      }
      this.next();
      if (this.isPunct(";")) this.fail(this.peek().span, "type definitions take no ';'");
      return { kind: "TypeDef", name: name.value, fields, alias: undefined, span: spanFrom(start.span, this.prev().span) };
    }
    const alias = this.expectIdent("a type name or '{' after '='");
    if (this.isPunct(";")) this.fail(this.peek().span, "type definitions take no ';'");
    return { kind: "TypeDef", name: name.value, fields: undefined, alias: alias.value, span: spanFrom(start.span, alias.span) };
  }

  private parseFunction(): FunctionDecl {
    const start = this.next();
    const name = this.expectIdent("a function name after 'function'");
    const params = this.parseParams();
    const returnType = this.eatPunct("->") ? this.parseType() : undefined;
    const body = this.parseBlock(`function '${name.value}'`);
    return { kind: "Function", name: name.value, params, returnType, body, span: spanFrom(start.span, body.span) };
  }

  private parseWith(): WithBlock {
    const start = this.next();
    const attrs: Attr[] = [];
    while (this.peek().type === "ident") {
      const k = this.next();
      this.expectPunct("=", `after with attribute '${k.value}'`);
      const value = this.parseAttrValue("list", `with attribute '${k.value}'`);
      attrs.push({ kind: "Attr", key: k.value, sep: "=", value, span: spanFrom(k.span, value.span) });
      this.eatPunct(",");
    }
    if (!this.isPunct("{")) this.fail(this.peek().span, `expected a with attribute or '{' to open the with body, found ${describeToken(this.peek())}`);
    const body = this.parseBlock("with body");
    return { kind: "With", attrs, body, span: spanFrom(start.span, body.span) };
  }

  private parseAttrItem(kind: "Schedule"): Item {
    const start = this.next();
    const name = this.expectIdent(`a name after '${start.value}'`);
    const open = this.expectPunct("{", `to open ${start.value} '${name.value}'`);
    const attrs = this.parseAttrs(open, `${start.value} '${name.value}'`, { seps: ["=", ":"], values: "scalar" });
    this.next();
    return { kind, name: name.value, attrs, span: spanFrom(start.span, this.prev().span) };
  }

  private parseChannel(): ChannelBlock {
    const start = this.next();
    const name = this.expectIdent("a name after 'channel'");
    const open = this.expectPunct("{", `to open channel '${name.value}'`);
    const what = `channel '${name.value}'`;
    const members: (Attr | PolicyBlock | DataClassification)[] = [];
    const isSub = (t: Token): boolean =>
      t.type === "ident" && ((t.value === "policy" && this.peek(1).type === "ident") || (t.value === "data_classification" && this.isPunct("{", 1)));
    for (;;) {
      members.push(...this.parseAttrs(open, what, { seps: ["=", ":"], values: "list", sub: isSub }));
      if (this.isPunct("}")) break;
      if (this.isWord("policy")) members.push(this.parsePolicy());
      else {
        const dc = this.next();
        const o = this.next();
        const entries: { key: string; value: string; span: Span }[] = [];
        while (!this.isPunct("}")) {
          if (this.peek().type === "eof") this.expectClose(o, "data_classification block");
          const k = this.expectIdent("a field name or '}'");
          this.expectPunct(":", `after '${k.value}'`);
          const v = this.expectIdent("a classification name (e.g. public, internal, confidential)");
          entries.push({ key: k.value, value: v.value, span: spanFrom(k.span, v.span) });
          this.eatPunct(",");
        }
        this.next();
        members.push({ kind: "DataClassification", entries, span: spanFrom(dc.span, this.prev().span) });
      }
    }
    this.next();
    return { kind: "Channel", name: name.value, members, span: spanFrom(start.span, this.prev().span) };
  }

  private parseMemoryOrWebhook<K extends "Memory" | "Webhook">(kind: K, subName: "search" | "filter"): Item {
    const start = this.next();
    const name = this.expectIdent(`a name after '${start.value}'`);
    const open = this.expectPunct("{", `to open ${start.value} '${name.value}'`);
    const what = `${start.value} '${name.value}'`;
    const members: (Attr | SubBlock)[] = [];
    const isSub = (t: Token): boolean => t.type === "ident" && t.value === subName && this.isPunct("{", 1);
    for (;;) {
      members.push(...this.parseAttrs(open, what, { seps: [], values: "list", sub: isSub }));
      if (this.isPunct("}")) break;
      const s = this.next();
      const o = this.next();
      const attrs = this.parseAttrs(o, `${subName} block`, { seps: [], values: "list" });
      this.next();
      members.push({ kind: "SubBlock", name: subName, attrs, span: spanFrom(s.span, this.prev().span) });
    }
    this.next();
    return { kind, name: name.value, members, span: spanFrom(start.span, this.prev().span) } as Item;
  }
}

/** Parses one expression (a policy condition kept as text); `undefined` with diagnostics when it does not parse. */
export function parseExpression(text: string): { expr: import("./ast.js").Expr | undefined; diagnostics: readonly Diagnostic[] } {
  const lexed = lex(text);
  const p = new ExprParser(lexed.tokens);
  let expr;
  try {
    expr = p.parseExpr();
    const end = expr.span.end.offset;
    const extra = lexed.tokens.find((t) => t.type !== "eof" && t.span.start.offset >= end);
    if (extra) p.diagnostics.push({ span: extra.span, message: `unexpected ${describeToken(extra)} after the expression` });
  } catch (e) {
    if (!(e instanceof Sync)) throw e;
  }
  const diagnostics = [...lexed.diagnostics, ...p.diagnostics];
  return { expr: diagnostics.length ? undefined : expr, diagnostics };
}
