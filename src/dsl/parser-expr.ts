/**
 * Statements and expressions: blocks with a trailing value, assignment targets, `if let`, match arms,
 * try/catch, and expressions by precedence (lowest first: `||`, `&&`, `== != in`, `< > <= >=`, `+ -`,
 * `* / %`, unary `! not -`, postfix `.ID` `(args)` `[e]`).
 */
import type {
  Arg,
  AssignOp,
  BinaryOp,
  Block,
  CatchClause,
  Expr,
  Ident,
  IfExpr,
  IfStmt,
  Literal,
  MatchArm,
  MatchPattern,
  Pattern,
  RecordField,
  Stmt,
} from "./ast.js";
import { BINARY_PRECEDENCE } from "./ast.js";
import { durationMs, splitDuration, type Token } from "./lexer.js";
import { Sync, TokenStream, describeToken, spanFrom } from "./parser-base.js";

const ASSIGN_OPS = new Set<string>(["=", "+=", "-=", "*=", "/=", "%="]);
const BINARY_PUNCT = new Set<string>(["||", "&&", "==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%"]);
const STMT_WORDS = new Set(["let", "if", "for", "match", "try", "return"]);

export class ExprParser extends TokenStream {
  /** False inside `if`/`for`/`match` heads, where `Name {` opens the block rather than a type literal. */
  #allowTypeLiteral = true;

  /** True when `word` here acts as a keyword: not followed by something that makes it a plain name. */
  protected isKeyword(word: string): boolean {
    if (!this.isWord(word)) return false;
    const n = this.peek(1);
    if (n.type !== "punct") return true;
    return !(ASSIGN_OPS.has(n.value) || n.value === "." || n.value === ";" || n.value === "," || n.value === ")" || n.value === "]");
  }

  parseBlock(what = "block"): Block {
    const open = this.expectPunct("{", `to open the ${what}`);
    const stmts: Stmt[] = [];
    let tail: Expr | undefined;
    while (!this.isPunct("}") && this.peek().type !== "eof") {
      if (tail) {
        // The previous expression was not the last thing in the block after all.
        this.report({ start: tail.span.end, end: tail.span.end }, `expected ';' after the expression, found ${describeToken(this.peek())}`);
        stmts.push({ kind: "ExprStmt", expr: tail, span: tail.span });
        tail = undefined;
      }
      try {
        const r = this.parseStmt();
        if (r.kind === "Tail") tail = r.expr;
        else stmts.push(r);
      } catch (e) {
        if (!(e instanceof Sync)) throw e;
        this.recover((t) => t.type === "ident" && STMT_WORDS.has(t.value) && t.span.start.line > this.prev().span.end.line);
      }
    }
    const close = this.expectClose(open, what);
    return { kind: "Block", stmts, tail, span: spanFrom(open.span, close.span) };
  }

  protected parseStmt(): Stmt | { kind: "Tail"; expr: Expr } {
    const t = this.peek();
    if (this.isWord("let") && this.peek(1).type === "ident") {
      this.next();
      const name = this.next().value;
      this.expectPunct("=", `after 'let ${name}' (type annotations are not supported)`);
      const value = this.parseExpr();
      this.expectSemicolon("after the let statement");
      return { kind: "Let", name, value, span: spanFrom(t.span, this.prev().span) };
    }
    if (this.isKeyword("return")) {
      this.next();
      let value: Expr | undefined;
      if (!this.isPunct(";") && !this.isPunct("}")) value = this.parseExpr();
      this.expectSemicolon("after the return statement");
      return { kind: "Return", value, span: spanFrom(t.span, this.prev().span) };
    }
    if (this.isKeyword("if")) return this.parseIfStmt();
    if (this.isKeyword("for") && this.peek(1).type === "ident" && this.isWord("in", 2)) {
      this.next();
      const name = this.next().value;
      this.next();
      const iter = this.withoutTypeLiterals(() => this.parseExpr());
      const body = this.parseBlock("for body");
      return { kind: "For", name, iter, body, span: spanFrom(t.span, body.span) };
    }
    if (this.isKeyword("for")) {
      this.next();
      this.expectIdent("a loop variable after 'for'");
      this.expectWord("in", "after the loop variable");
    }
    if (this.isWord("while") || this.isWord("loop")) {
      if (this.peek(1).type !== "punct" || this.isPunct("{", 1) || this.isPunct("(", 1)) {
        this.fail(t.span, `'${t.value}' loops are not supported: use 'for NAME in LIST { ... }'`);
      }
    }
    if (this.isKeyword("match")) return this.parseMatch();
    if (this.isWord("try") && this.isPunct("{", 1)) return this.parseTry();

    const expr = this.parseExpr();
    const op = this.peek();
    if (op.type === "punct" && ASSIGN_OPS.has(op.value)) {
      if (expr.kind !== "Ident" && expr.kind !== "Member" && expr.kind !== "Index") {
        this.fail(expr.span, "cannot assign to this expression: the target must be a name, a field (a.b) or an index (a[i])");
      }
      this.next();
      const value = this.parseExpr();
      this.expectSemicolon("after the assignment");
      return { kind: "Assign", target: expr, op: op.value as AssignOp, value, span: spanFrom(t.span, this.prev().span) };
    }
    if (this.eatPunct(";")) return { kind: "ExprStmt", expr, span: spanFrom(expr.span, this.prev().span) };
    if (this.isPunct("}")) return { kind: "Tail", expr };
    if (op.type === "ident" && op.span.start.line === expr.span.end.line) {
      this.fail(op.span, `expected an operator or ';' after the expression, found ${describeToken(op)}`);
    }
    this.expectSemicolon("after the expression");
    return { kind: "ExprStmt", expr, span: expr.span };
  }

  protected withoutTypeLiterals<T>(fn: () => T): T {
    const saved = this.#allowTypeLiteral;
    this.#allowTypeLiteral = false;
    try {
      return fn();
    } finally {
      this.#allowTypeLiteral = saved;
    }
  }

  protected withTypeLiterals<T>(fn: () => T): T {
    const saved = this.#allowTypeLiteral;
    this.#allowTypeLiteral = true;
    try {
      return fn();
    } finally {
      this.#allowTypeLiteral = saved;
    }
  }

  protected parseIfStmt(): IfStmt {
    const start = this.next();
    let cond: Expr | undefined;
    let letPattern: Pattern | undefined;
    let letValue: Expr | undefined;
    if (this.isWord("let") && this.peek(1).type === "ident") {
      this.next();
      letPattern = this.parsePattern();
      this.expectPunct("=", "after the pattern in 'if let'");
      letValue = this.withoutTypeLiterals(() => this.parseExpr());
    } else {
      cond = this.withoutTypeLiterals(() => this.parseExpr());
    }
    const then = this.parseBlock("if body");
    let elseBranch: Block | IfStmt | undefined;
    if (this.isWord("else")) {
      this.next();
      elseBranch = this.isWord("if") ? this.parseIfStmt() : this.parseBlock("else body");
    }
    return { kind: "If", cond, letPattern, letValue, then, else: elseBranch, span: spanFrom(start.span, this.prev().span) };
  }

  protected parsePattern(): Pattern {
    const t = this.expectIdent("a pattern (a name, '_' or Name(...))");
    if (t.value === "_") return { kind: "WildPat", span: t.span };
    if (this.eatPunct("(")) {
      const args: Pattern[] = [];
      while (!this.isPunct(")")) {
        args.push(this.parsePattern());
        if (!this.eatPunct(",") && !this.isPunct(")")) {
          this.fail(this.peek().span, `expected ',' or ')' in the pattern, found ${describeToken(this.peek())}`);
        }
      }
      this.next();
      return { kind: "CtorPat", name: t.value, args, span: spanFrom(t.span, this.prev().span) };
    }
    return { kind: "BindPat", name: t.value, span: t.span };
  }

  protected parseMatch(): Stmt {
    const start = this.next();
    const subject = this.withoutTypeLiterals(() => this.parseExpr());
    const open = this.expectPunct("{", "to open the match arms");
    const arms: MatchArm[] = [];
    while (!this.isPunct("}") && this.peek().type !== "eof") {
      const pt = this.peek();
      let pattern: MatchPattern;
      if (pt.type === "string" || pt.type === "number") pattern = { kind: "LitPat", value: this.parsePrimary() as Literal };
      else if (pt.type === "ident" && (pt.value === "true" || pt.value === "false")) {
        this.next();
        pattern = { kind: "LitPat", value: { kind: "Literal", type: "bool", value: pt.value === "true", span: pt.span } };
      } else if (pt.type === "ident") {
        this.next();
        pattern = pt.value === "_" ? { kind: "WildPat", span: pt.span } : { kind: "NamePat", name: pt.value, span: pt.span };
      } else {
        this.fail(pt.span, `expected a match pattern (a string, number, boolean, name or '_'), found ${describeToken(pt)}`);
      }
      this.expectPunct("=>", "after the match pattern");
      const body = this.isPunct("{") && !this.looksLikeRecord() ? this.parseBlock("match arm") : this.parseExpr();
      this.eatPunct(",");
      arms.push({ pattern, body, span: spanFrom(pt.span, this.prev().span) });
    }
    const close = this.expectClose(open, "match");
    return { kind: "Match", subject, arms, span: spanFrom(start.span, close.span) };
  }

  protected parseTry(): Stmt {
    const start = this.next();
    const body = this.parseBlock("try body");
    const catches: CatchClause[] = [];
    while (this.isWord("catch")) {
      const c = this.next();
      this.expectPunct("(", "after 'catch'");
      const first = this.expectIdent("an error variable name");
      let typeName: string | undefined;
      let name = first.value;
      if (this.peek().type === "ident") {
        typeName = first.value;
        name = this.next().value;
      }
      this.expectPunct(")", "after the catch variable");
      const cb = this.parseBlock("catch body");
      catches.push({ typeName, name, body: cb, span: spanFrom(c.span, cb.span) });
    }
    return { kind: "Try", body, catches, span: spanFrom(start.span, this.prev().span) };
  }

  /** At `{`: a record literal (`{}` or `{key: ...`) rather than a block. */
  protected looksLikeRecord(): boolean {
    if (this.isPunct("}", 1)) return true;
    const k = this.peek(1);
    return (k.type === "ident" || k.type === "string") && this.isPunct(":", 2);
  }

  parseExpr(minPrec = 1): Expr {
    let left = this.parseUnary();
    for (;;) {
      const t = this.peek();
      let op: BinaryOp | undefined;
      if (t.type === "punct" && BINARY_PUNCT.has(t.value)) op = t.value as BinaryOp;
      else if (t.type === "ident" && t.value === "in") op = "in";
      if (!op) return left;
      const prec = BINARY_PRECEDENCE[op];
      if (prec < minPrec) return left;
      this.next();
      const right = this.parseExpr(prec + 1);
      left = { kind: "Binary", op, left, right, span: spanFrom(left.span, right.span) };
    }
  }

  protected parseUnary(): Expr {
    const t = this.peek();
    const notWord = t.type === "ident" && t.value === "not" && this.startsExpression(this.peek(1));
    if (this.isPunct("!") || this.isPunct("-") || notWord) {
      this.next();
      const operand = this.parseUnary();
      const op = t.value as "!" | "-" | "not";
      return { kind: "Unary", op, operand, span: spanFrom(t.span, operand.span) };
    }
    return this.parsePostfix(this.parsePrimary());
  }

  private startsExpression(t: Token): boolean {
    if (t.type === "punct") return ["(", "[", "{", "!", "-"].includes(t.value);
    if (t.type === "ident") return t.value !== "in";
    return t.type !== "eof";
  }

  protected parsePostfix(expr: Expr): Expr {
    for (;;) {
      if (this.eatPunct(".")) {
        const name = this.expectIdent("a field or method name after '.'");
        expr = { kind: "Member", object: expr, name: name.value, span: spanFrom(expr.span, name.span) };
      } else if (this.isPunct("(")) {
        const args = this.parseArgs();
        expr = { kind: "Call", callee: expr, args, span: spanFrom(expr.span, this.prev().span) };
      } else if (this.isPunct("[")) {
        const open = this.next();
        const index = this.withTypeLiterals(() => this.parseExpr());
        this.expectPunct("]", `to close the index opened at ${open.span.start.line}:${open.span.start.col}`);
        expr = { kind: "Index", object: expr, index, span: spanFrom(expr.span, this.prev().span) };
      } else if (this.isPunct(":") && this.isPunct(":", 1)) {
        this.fail(this.peek().span, "'::' paths are not supported: use '.' to reach a field or method");
      } else {
        return expr;
      }
    }
  }

  protected parseArgs(): Arg[] {
    const open = this.next();
    const args: Arg[] = [];
    this.withTypeLiterals(() => {
      while (!this.isPunct(")")) {
        const t = this.peek();
        if (t.type === "eof") this.fail(t.span, `expected ')' to close the call opened at ${open.span.start.line}:${open.span.start.col}, found end of file`);
        let name: string | undefined;
        let sep: "=" | ":" | undefined;
        if (t.type === "ident" && (this.isPunct("=", 1) || this.isPunct(":", 1))) {
          name = t.value;
          this.next();
          sep = this.next().value as "=" | ":";
        }
        const value = this.parseExpr();
        args.push({ name, sep, value, span: spanFrom(t.span, value.span) });
        if (!this.eatPunct(",") && !this.isPunct(")")) {
          this.fail(this.peek().span, `expected ',' or ')' in the argument list, found ${describeToken(this.peek())}`);
        }
      }
    });
    this.next();
    return args;
  }

  protected literalFrom(t: Token): Literal {
    if (t.type === "string") return { kind: "Literal", type: "string", value: t.value, span: t.span };
    if (t.type === "duration") {
      const { amount, unit } = splitDuration(t.value);
      return { kind: "Literal", type: "duration", amount, unit, value: durationMs(amount, unit), span: t.span };
    }
    return { kind: "Literal", type: "number", value: Number(t.value.replace(/_/g, "")), raw: t.value, span: t.span };
  }

  protected parsePrimary(): Expr {
    const t = this.peek();
    switch (t.type) {
      case "string":
      case "number":
      case "duration":
        this.next();
        return this.literalFrom(t);
      case "vault":
        this.next();
        return { kind: "Vault", path: t.value, span: t.span };
      case "punct":
        return this.parsePunctPrimary(t);
      case "ident":
        return this.parseWordPrimary(t);
      default:
        return this.fail(t.span, "expected an expression, found end of file");
    }
  }

  private parsePunctPrimary(t: Token): Expr {
    if (t.value === "(") {
      this.next();
      const inner = this.withTypeLiterals(() => this.parseExpr());
      this.expectPunct(")", `to close the '(' opened at ${t.span.start.line}:${t.span.start.col}`);
      return inner;
    }
    if (t.value === "[") {
      this.next();
      const items: Expr[] = [];
      this.withTypeLiterals(() => {
        while (!this.isPunct("]")) {
          if (this.peek().type === "eof") this.fail(this.peek().span, `expected ']' to close the list opened at ${t.span.start.line}:${t.span.start.col}, found end of file`);
          items.push(this.parseExpr());
          if (!this.eatPunct(",") && !this.isPunct("]")) {
            this.fail(this.peek().span, `expected ',' or ']' in the list, found ${describeToken(this.peek())}`);
          }
        }
      });
      this.next();
      return { kind: "List", items, span: spanFrom(t.span, this.prev().span) };
    }
    if (t.value === "{") {
      if (!this.looksLikeRecord()) {
        this.fail(this.peek(1).span, `expected a record field ('name: value') or '}', found ${describeToken(this.peek(1))}`);
      }
      this.next();
      const fields = this.parseFields(t);
      return { kind: "Record", fields, span: spanFrom(t.span, this.prev().span) };
    }
    return this.fail(t.span, `expected an expression, found ${describeToken(t)}`);
  }

  /** Fields of a record or type literal; the `{` is already consumed. */
  protected parseFields(open: Token): RecordField[] {
    const fields: RecordField[] = [];
    this.withTypeLiterals(() => {
      while (!this.isPunct("}")) {
        const k = this.peek();
        if (k.type !== "ident" && k.type !== "string") {
          this.fail(k.span, `expected a field name or '}' in the record opened at ${open.span.start.line}:${open.span.start.col}, found ${describeToken(k)}`);
        }
        this.next();
        this.expectPunct(":", `after the field name '${k.value}'`);
        const value = this.parseExpr();
        fields.push({ key: k.value, quoted: k.type === "string", value, span: spanFrom(k.span, value.span) });
        if (!this.eatPunct(",") && !this.isPunct("}")) {
          this.fail(this.peek().span, `expected ',' or '}' in the record, found ${describeToken(this.peek())}`);
        }
      }
    });
    this.next();
    return fields;
  }

  private parseWordPrimary(t: Token): Expr {
    if (t.value === "true" || t.value === "false") {
      this.next();
      return { kind: "Literal", type: "bool", value: t.value === "true", span: t.span };
    }
    if (t.value === "if" && this.isKeyword("if")) return this.parseIfExpr();
    this.next();
    if (this.isPunct("=>")) {
      this.next();
      const body = this.parseExpr();
      return { kind: "Lambda", param: t.value, body, span: spanFrom(t.span, body.span) };
    }
    if (this.#allowTypeLiteral && this.isPunct("{") && this.looksLikeRecord()) {
      const open = this.next();
      const fields = this.parseFields(open);
      return { kind: "TypeLiteral", typeName: t.value, fields, span: spanFrom(t.span, this.prev().span) };
    }
    const id: Ident = { kind: "Ident", name: t.value, span: t.span };
    return id;
  }

  protected parseIfExpr(): IfExpr {
    const start = this.next();
    const cond = this.withoutTypeLiterals(() => this.parseExpr());
    const then = this.parseBlock("if body");
    if (!this.isWord("else")) this.fail(this.peek().span, `expected 'else': an if used as a value needs an else branch, found ${describeToken(this.peek())}`);
    this.next();
    const elseBranch = this.isWord("if") ? this.parseIfExpr() : this.parseBlock("else body");
    return { kind: "IfExpr", cond, then, else: elseBranch, span: spanFrom(start.span, elseBranch.span) };
  }
}
