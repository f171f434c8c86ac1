/**
 * The canonical layout of a `.symbi` file: four-space indent, one attribute / rule / statement per line, a
 * blank line between items and between agent members, parentheses only where precedence needs them, lists
 * and records on one line unless they would pass 100 columns. Comments are kept: a comment stays before the
 * construct it preceded, or at the end of the line it ended. Formatting its own output changes nothing.
 *
 * @example
 * const { program, diagnostics } = parse(source);
 * if (diagnostics.length === 0) writeFileSync(file, format(program));
 */
import type {
  AgentDecl,
  Attr,
  Block,
  ChannelBlock,
  Expr,
  IfExpr,
  IfStmt,
  Item,
  Literal,
  MatchPattern,
  Param,
  Pattern,
  PolicyBlock,
  Program,
  RecordField,
  Span,
  Stmt,
  TypeRef,
} from "./ast.js";
import { BINARY_PRECEDENCE } from "./ast.js";

const INDENT = "    ";
const WIDTH = 100;
const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function format(program: Program): string {
  const p = new Printer(program);
  p.program();
  return p.text();
}

function ind(level: number): string {
  return INDENT.repeat(level);
}

export function quote(s: string): string {
  return `"${s.replace(/[\\"\n\t\r\0]/g, (c) => ({ "\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0" })[c] as string)}"`;
}

export function typeText(t: TypeRef): string {
  return t.args.length ? `${t.name}<${t.args.map(typeText).join(", ")}>` : t.name;
}

function paramsText(ps: readonly Param[]): string {
  return ps.map((p) => `${p.name}: ${typeText(p.type)}`).join(", ");
}

function literalText(l: Literal): string {
  switch (l.type) {
    case "string":
      return quote(l.value);
    case "number":
      return l.raw;
    case "bool":
      return String(l.value);
    case "duration":
      return `${l.amount}${l.unit}`;
  }
}

class Printer {
  #out: string[] = [];
  #ci = 0;

  constructor(private readonly prog: Program) {}

  text(): string {
    return `${this.#out.join("\n").replace(/\n{3,}/g, "\n\n").trim()}\n`;
  }

  #line(level: number, text: string): void {
    this.#out.push(ind(level) + text);
  }

  #blank(): void {
    if (this.#out.length && this.#out[this.#out.length - 1] !== "") this.#out.push("");
  }

  #commentText(i: number): string {
    const c = this.prog.comments[i];
    return c ? `${c.marker}${c.text.trimEnd()}` : "";
  }

  /** Comments that begin before `offset` go on their own lines. */
  #leading(level: number, offset: number): void {
    const cs = this.prog.comments;
    while (this.#ci < cs.length && (cs[this.#ci] as { span: Span }).span.start.offset < offset) {
      this.#line(level, this.#commentText(this.#ci++));
    }
  }

  /** Comments inside a construct that nothing else printed, and a comment on its last line, end that line. */
  #trailing(span: Span): void {
    const cs = this.prog.comments;
    const parts: string[] = [];
    while (this.#ci < cs.length) {
      const c = cs[this.#ci] as { span: Span };
      if (c.span.start.offset < span.end.offset || c.span.start.line === span.end.line) parts.push(this.#commentText(this.#ci++));
      else break;
    }
    if (parts.length && this.#out.length) this.#out[this.#out.length - 1] += ` ${parts.join(" ")}`;
  }

  #node(level: number, span: Span, print: () => void): void {
    this.#leading(level, span.start.offset);
    print();
    this.#trailing(span);
  }

  /** Prints into a separate buffer and returns the lines (for blocks nested in expressions). */
  #capture(print: () => void): string {
    const saved = this.#out;
    this.#out = [];
    try {
      print();
      return this.#out.join("\n");
    } finally {
      this.#out = saved;
    }
  }

  program(): void {
    for (const item of this.prog.items) {
      this.#blank();
      this.#node(0, item.span, () => this.#item(item));
    }
    this.#leading(0, Number.POSITIVE_INFINITY);
  }

  #item(item: Item): void {
    switch (item.kind) {
      case "Metadata":
        this.#attrBlock(0, "metadata", item.attrs, item.span);
        return;
      case "Agent":
        this.#agent(item);
        return;
      case "Policy":
        this.#policy(0, item);
        return;
      case "TypeDef":
        if (item.fields === undefined) {
          this.#line(0, `type ${item.name} = ${item.alias}`);
          return;
        }
        if (item.fields.length === 0) {
          this.#line(0, `type ${item.name} = {}`);
          return;
        }
        this.#line(0, `type ${item.name} = {`);
        for (const f of item.fields) this.#node(1, f.span, () => this.#line(1, `${f.name}: ${typeText(f.type)},`));
        this.#close(0, item.span);
        return;
      case "Function":
        this.#line(0, `function ${item.name}(${paramsText(item.params)})${item.returnType ? ` -> ${typeText(item.returnType)}` : ""} {`);
        this.#blockBody(1, item.body);
        this.#line(0, "}");
        return;
      case "Schedule":
        this.#attrBlock(0, `schedule ${item.name}`, item.attrs, item.span);
        return;
      case "Channel":
        this.#channel(item);
        return;
      case "Memory":
      case "Webhook":
        this.#line(0, `${item.kind.toLowerCase()} ${item.name} {`);
        for (const m of item.members) {
          if (m.kind === "Attr") this.#node(1, m.span, () => this.#attr(1, m));
          else this.#node(1, m.span, () => this.#attrBlock(1, m.name, m.attrs, m.span));
        }
        this.#close(0, item.span);
        return;
    }
  }

  /** Comments before the closing brace, then the brace. */
  #close(level: number, span: Span): void {
    this.#leading(level + 1, span.end.offset - 1);
    this.#line(level, "}");
  }

  #attrBlock(level: number, head: string, attrs: readonly Attr[], span: Span): void {
    this.#line(level, `${head} {`);
    for (const a of attrs) this.#node(level + 1, a.span, () => this.#attr(level + 1, a));
    this.#close(level, span);
  }

  #attr(level: number, a: Attr): void {
    const sep = a.sep === "" ? " " : a.sep === ":" ? ": " : " = ";
    this.#line(level, `${a.key}${sep}${this.expr(a.value, level)}`);
  }

  #agent(a: AgentDecl): void {
    const params = a.params ? `(${paramsText(a.params)})` : "";
    const ret = a.returnType ? ` -> ${typeText(a.returnType)}` : "";
    this.#line(0, `agent ${a.name}${params}${ret} {`);
    a.members.forEach((m, i) => {
      if (i > 0) this.#blank();
      this.#node(1, m.span, () => {
        switch (m.kind) {
          case "Capabilities":
            this.#line(1, `capabilities${m.sep === ":" ? ":" : " ="} ${this.expr(m.list, 1)}`);
            return;
          case "Policy":
            this.#policy(1, m);
            return;
          case "Function":
            this.#line(1, `function ${m.name}(${paramsText(m.params)})${m.returnType ? ` -> ${typeText(m.returnType)}` : ""} {`);
            this.#blockBody(2, m.body);
            this.#line(1, "}");
            return;
          case "With": {
            const attrs = m.attrs.map((x) => `${x.key} = ${this.expr(x.value, 1)}`).join(", ");
            this.#line(1, `with ${attrs}${attrs ? " " : ""}{`);
            this.#blockBody(2, m.body);
            this.#line(1, "}");
          }
        }
      });
    });
    this.#close(0, a.span);
  }

  #policy(level: number, p: PolicyBlock): void {
    this.#line(level, `policy ${p.name} {`);
    for (const r of p.rules) {
      this.#node(level + 1, r.span, () => {
        const cond = r.condition ? ` if ${this.expr(r.condition, level + 1)}` : "";
        this.#line(level + 1, `${r.effect}: ${this.expr(r.expr, level + 1)}${cond}`);
      });
    }
    this.#close(level, p.span);
  }

  #channel(c: ChannelBlock): void {
    this.#line(0, `channel ${c.name} {`);
    for (const m of c.members) {
      this.#node(1, m.span, () => {
        if (m.kind === "Attr") this.#attr(1, m);
        else if (m.kind === "Policy") this.#policy(1, m);
        else {
          this.#line(1, "data_classification {");
          for (const e of m.entries) this.#node(2, e.span, () => this.#line(2, `${e.key}: ${e.value}`));
          this.#close(1, m.span);
        }
      });
    }
    this.#close(0, c.span);
  }

  #blockBody(level: number, b: Block): void {
    for (const s of b.stmts) this.#node(level, s.span, () => this.#stmt(level, s));
    if (b.tail) {
      const tail = b.tail;
      this.#node(level, tail.span, () => this.#line(level, this.expr(tail, level)));
    }
    this.#leading(level, b.span.end.offset - 1);
  }

  #stmt(level: number, s: Stmt): void {
    switch (s.kind) {
      case "Let":
        this.#line(level, `let ${s.name} = ${this.expr(s.value, level)};`);
        return;
      case "Assign":
        this.#line(level, `${this.expr(s.target, level)} ${s.op} ${this.expr(s.value, level)};`);
        return;
      case "Return":
        this.#line(level, s.value ? `return ${this.expr(s.value, level)};` : "return;");
        return;
      case "ExprStmt":
        this.#line(level, `${this.expr(s.expr, level)};`);
        return;
      case "If":
        this.#ifStmt(level, s, "");
        return;
      case "For":
        this.#line(level, `for ${s.name} in ${this.expr(s.iter, level)} {`);
        this.#blockBody(level + 1, s.body);
        this.#line(level, "}");
        return;
      case "Match":
        this.#line(level, `match ${this.expr(s.subject, level)} {`);
        for (const arm of s.arms) {
          this.#node(level + 1, arm.span, () => {
            const pat = matchPatternText(arm.pattern);
            if (arm.body.kind === "Block") {
              this.#line(level + 1, `${pat} => {`);
              this.#blockBody(level + 2, arm.body);
              this.#line(level + 1, "}");
            } else {
              this.#line(level + 1, `${pat} => ${this.expr(arm.body, level + 1)},`);
            }
          });
        }
        this.#close(level, s.span);
        return;
      case "Try":
        this.#line(level, "try {");
        this.#blockBody(level + 1, s.body);
        for (const c of s.catches) {
          this.#line(level, `} catch (${c.typeName ? `${c.typeName} ` : ""}${c.name}) {`);
          this.#blockBody(level + 1, c.body);
        }
        this.#line(level, "}");
    }
  }

  #ifStmt(level: number, s: IfStmt, prefix: string): void {
    const head = s.letPattern ? `let ${patternText(s.letPattern)} = ${this.expr(s.letValue as Expr, level)}` : this.expr(s.cond as Expr, level);
    this.#line(level, `${prefix}if ${head} {`);
    this.#blockBody(level + 1, s.then);
    if (!s.else) {
      this.#line(level, "}");
      return;
    }
    if (s.else.kind === "If") {
      this.#ifStmt(level, s.else, "} else ");
      return;
    }
    this.#line(level, "} else {");
    this.#blockBody(level + 1, s.else);
    this.#line(level, "}");
  }

  /** An expression as text; blocks inside it (if-expressions) span lines indented from `level`. */
  expr(e: Expr, level: number): string {
    switch (e.kind) {
      case "Literal":
        return literalText(e);
      case "Ident":
        return e.name;
      case "Vault":
        return `vault://${e.path}`;
      case "List":
        return this.#seq("[", "]", e.items.map((x) => this.expr(x, level + 1)), level);
      case "Record":
        return e.fields.length ? this.#seq("{ ", " }", this.#fields(e.fields, level), level) : "{}";
      case "TypeLiteral":
        return `${e.typeName} ${e.fields.length ? this.#seq("{ ", " }", this.#fields(e.fields, level), level) : "{}"}`;
      case "IfExpr":
        return this.#ifExpr(e, level);
      case "Lambda":
        return `${e.param} => ${this.expr(e.body, level)}`;
      case "Binary": {
        const prec = BINARY_PRECEDENCE[e.op];
        const l = this.#operand(e.left, level, (c) => c < prec);
        const r = this.#operand(e.right, level, (c) => c <= prec);
        return `${l} ${e.op} ${r}`;
      }
      case "Unary": {
        const o = this.#operand(e.operand, level, () => true);
        return e.op === "not" ? `not ${o}` : `${e.op}${o}`;
      }
      case "Member":
        return `${this.#postfixObject(e.object, level)}.${e.name}`;
      case "Index":
        return `${this.#postfixObject(e.object, level)}[${this.expr(e.index, level)}]`;
      case "Call": {
        const args = e.args.map((a) => (a.name ? `${a.name}${a.sep === ":" ? ": " : " = "}` : "") + this.expr(a.value, level + 1));
        return `${this.#postfixObject(e.callee, level)}${this.#seq("(", ")", args, level)}`;
      }
    }
  }

  #fields(fields: readonly RecordField[], level: number): string[] {
    return fields.map((f) => `${f.quoted || !IDENT_RE.test(f.key) ? quote(f.key) : f.key}: ${this.expr(f.value, level + 1)}`);
  }

  /** One line when it fits, else one element per line with trailing commas. */
  #seq(open: string, close: string, parts: string[], level: number): string {
    const inline = `${open}${parts.join(", ")}${close}`;
    if (!inline.includes("\n") && ind(level).length + inline.length <= WIDTH) return inline;
    const o = open.trim();
    const c = close.trim();
    return `${o}\n${parts.map((p) => `${ind(level + 1)}${p},`).join("\n")}\n${ind(level)}${c}`;
  }

  /** Binary and unary operands: lambdas and if-expressions always get parentheses. */
  #operand(e: Expr, level: number, needs: (childPrec: number) => boolean): string {
    const text = this.expr(e, level);
    if (e.kind === "Lambda" || e.kind === "IfExpr") return `(${text})`;
    if (e.kind === "Binary" && needs(BINARY_PRECEDENCE[e.op])) return `(${text})`;
    return text;
  }

  #postfixObject(e: Expr, level: number): string {
    const text = this.expr(e, level);
    if (e.kind === "Binary" || e.kind === "Unary" || e.kind === "Lambda" || e.kind === "IfExpr") return `(${text})`;
    if (e.kind === "Literal" && e.type === "number") return `(${text})`;
    return text;
  }

  #ifExpr(e: IfExpr, level: number): string {
    const simple = (b: Block): boolean => b.stmts.length === 0 && b.tail !== undefined && !this.#hasComments(b.span);
    const elseSimple = e.else.kind === "Block" ? simple(e.else) : false;
    if (simple(e.then) && elseSimple) {
      const inline = `if ${this.expr(e.cond, level)} { ${this.expr(e.then.tail as Expr, level)} } else { ${this.expr((e.else as Block).tail as Expr, level)} }`;
      if (!inline.includes("\n") && ind(level).length + inline.length <= WIDTH) return inline;
    }
    const body = (b: Block): string => this.#capture(() => this.#blockBody(level + 1, b));
    const thenText = `if ${this.expr(e.cond, level)} {\n${body(e.then)}\n${ind(level)}}`;
    const elseText = e.else.kind === "IfExpr" ? this.#ifExpr(e.else, level) : `{\n${body(e.else)}\n${ind(level)}}`;
    return `${thenText} else ${elseText}`;
  }

  #hasComments(span: Span): boolean {
    const c = this.prog.comments[this.#ci];
    return c !== undefined && c.span.start.offset < span.end.offset;
  }
}

function patternText(p: Pattern): string {
  switch (p.kind) {
    case "WildPat":
      return "_";
    case "BindPat":
      return p.name;
    case "CtorPat":
      return `${p.name}(${p.args.map(patternText).join(", ")})`;
  }
}

function matchPatternText(p: MatchPattern): string {
  if (p.kind === "LitPat") return literalText(p.value);
  return p.kind === "WildPat" ? "_" : p.name;
}
