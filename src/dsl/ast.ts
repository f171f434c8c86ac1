/**
 * The typed syntax tree of a `.symbi` file. Every node carries a `span` (1-based line/col plus 0-based
 * offsets) so extraction and runtime errors can point at the source. Parentheses are not kept: the
 * formatter re-inserts them from operator precedence, so parse → fmt → parse yields an equal tree.
 */

export interface Position {
  /** 1-based */
  readonly line: number;
  /** 1-based, in UTF-16 code units */
  readonly col: number;
  /** 0-based offset into the source */
  readonly offset: number;
}

export interface Span {
  readonly start: Position;
  readonly end: Position;
}

export interface Comment {
  /** The text after the `//` or `#` marker, untrimmed on the left of the marker. */
  readonly text: string;
  readonly marker: "//" | "#";
  readonly span: Span;
}

// ---------- types ----------

export interface TypeRef {
  readonly kind: "TypeRef";
  readonly name: string;
  readonly args: readonly TypeRef[];
  readonly span: Span;
}

export interface Param {
  readonly name: string;
  readonly type: TypeRef;
  readonly span: Span;
}

// ---------- attribute values (metadata, with, schedule, ...) ----------

export type AttrValue = Literal | ListExpr | RecordExpr | Ident;

export interface Attr {
  readonly kind: "Attr";
  readonly key: string;
  /** `=`, `:` or none (memory and webhook blocks take no separator). */
  readonly sep: "=" | ":" | "";
  readonly value: AttrValue;
  readonly span: Span;
}

// ---------- items ----------

export type Item = MetadataBlock | AgentDecl | PolicyBlock | TypeDef | FunctionDecl | ScheduleBlock | ChannelBlock | MemoryBlock | WebhookBlock;

export interface Program {
  readonly kind: "Program";
  readonly items: readonly Item[];
  readonly comments: readonly Comment[];
  readonly span: Span;
}

export interface MetadataBlock {
  readonly kind: "Metadata";
  readonly attrs: readonly Attr[];
  readonly span: Span;
}

export interface AgentDecl {
  readonly kind: "Agent";
  readonly name: string;
  readonly nameSpan: Span;
  /** `undefined` when the agent has no parameter list at all (as opposed to `()`). */
  readonly params: readonly Param[] | undefined;
  readonly returnType: TypeRef | undefined;
  readonly members: readonly AgentMember[];
  readonly span: Span;
}

export type AgentMember = CapabilitiesDecl | PolicyBlock | FunctionDecl | WithBlock;

export interface CapabilitiesDecl {
  readonly kind: "Capabilities";
  readonly sep: "=" | ":";
  readonly list: ListExpr;
  readonly span: Span;
}

export type PolicyEffect = "allow" | "deny" | "require" | "audit";

export interface PolicyRuleNode {
  readonly kind: "PolicyRule";
  readonly effect: PolicyEffect;
  readonly expr: Expr;
  readonly condition: Expr | undefined;
  readonly span: Span;
}

export interface PolicyBlock {
  readonly kind: "Policy";
  readonly name: string;
  readonly rules: readonly PolicyRuleNode[];
  readonly span: Span;
}

export interface TypeDef {
  readonly kind: "TypeDef";
  readonly name: string;
  /** Record fields, or `undefined` for an alias. */
  readonly fields: readonly Param[] | undefined;
  readonly alias: string | undefined;
  readonly span: Span;
}

export interface FunctionDecl {
  readonly kind: "Function";
  readonly name: string;
  readonly params: readonly Param[];
  readonly returnType: TypeRef | undefined;
  readonly body: Block;
  readonly span: Span;
}

export interface WithBlock {
  readonly kind: "With";
  readonly attrs: readonly Attr[];
  readonly body: Block;
  readonly span: Span;
}

export interface ScheduleBlock {
  readonly kind: "Schedule";
  readonly name: string;
  readonly attrs: readonly Attr[];
  readonly span: Span;
}

export interface DataClassification {
  readonly kind: "DataClassification";
  readonly entries: readonly { readonly key: string; readonly value: string; readonly span: Span }[];
  readonly span: Span;
}

export interface ChannelBlock {
  readonly kind: "Channel";
  readonly name: string;
  readonly members: readonly (Attr | PolicyBlock | DataClassification)[];
  readonly span: Span;
}

/** `search { ... }` inside memory, `filter { ... }` inside webhook. */
export interface SubBlock {
  readonly kind: "SubBlock";
  readonly name: "search" | "filter";
  readonly attrs: readonly Attr[];
  readonly span: Span;
}

export interface MemoryBlock {
  readonly kind: "Memory";
  readonly name: string;
  readonly members: readonly (Attr | SubBlock)[];
  readonly span: Span;
}

export interface WebhookBlock {
  readonly kind: "Webhook";
  readonly name: string;
  readonly members: readonly (Attr | SubBlock)[];
  readonly span: Span;
}

// ---------- statements ----------

export interface Block {
  readonly kind: "Block";
  readonly stmts: readonly Stmt[];
  /** A trailing expression without `;`: the block's value. */
  readonly tail: Expr | undefined;
  readonly span: Span;
}

export type Stmt = LetStmt | AssignStmt | ReturnStmt | ExprStmt | IfStmt | ForStmt | MatchStmt | TryStmt;

export interface LetStmt {
  readonly kind: "Let";
  readonly name: string;
  readonly value: Expr;
  readonly span: Span;
}

export type AssignOp = "=" | "+=" | "-=" | "*=" | "/=" | "%=";

export interface AssignStmt {
  readonly kind: "Assign";
  readonly target: Ident | MemberExpr | IndexExpr;
  readonly op: AssignOp;
  readonly value: Expr;
  readonly span: Span;
}

export interface ReturnStmt {
  readonly kind: "Return";
  readonly value: Expr | undefined;
  readonly span: Span;
}

export interface ExprStmt {
  readonly kind: "ExprStmt";
  readonly expr: Expr;
  readonly span: Span;
}

export type Pattern =
  | { readonly kind: "BindPat"; readonly name: string; readonly span: Span }
  | { readonly kind: "WildPat"; readonly span: Span }
  | { readonly kind: "CtorPat"; readonly name: string; readonly args: readonly Pattern[]; readonly span: Span };

export interface IfStmt {
  readonly kind: "If";
  readonly cond: Expr | undefined;
  /** `if let pat = expr`: set instead of `cond`. */
  readonly letPattern: Pattern | undefined;
  readonly letValue: Expr | undefined;
  readonly then: Block;
  readonly else: Block | IfStmt | undefined;
  readonly span: Span;
}

export interface ForStmt {
  readonly kind: "For";
  readonly name: string;
  readonly iter: Expr;
  readonly body: Block;
  readonly span: Span;
}

export type MatchPattern =
  | { readonly kind: "LitPat"; readonly value: Literal }
  | { readonly kind: "WildPat"; readonly span: Span }
  | { readonly kind: "NamePat"; readonly name: string; readonly span: Span };

export interface MatchArm {
  readonly pattern: MatchPattern;
  readonly body: Expr | Block;
  readonly span: Span;
}

export interface MatchStmt {
  readonly kind: "Match";
  readonly subject: Expr;
  readonly arms: readonly MatchArm[];
  readonly span: Span;
}

export interface CatchClause {
  readonly typeName: string | undefined;
  readonly name: string;
  readonly body: Block;
  readonly span: Span;
}

export interface TryStmt {
  readonly kind: "Try";
  readonly body: Block;
  readonly catches: readonly CatchClause[];
  readonly span: Span;
}

// ---------- expressions ----------

export type Expr =
  | Literal
  | Ident
  | VaultRef
  | ListExpr
  | RecordExpr
  | TypeLiteral
  | IfExpr
  | LambdaExpr
  | BinaryExpr
  | UnaryExpr
  | MemberExpr
  | CallExpr
  | IndexExpr;

export type DurationUnit = ".seconds" | ".minutes" | ".hours" | "s" | "m" | "h" | "d" | "w" | "months" | "y";

export type Literal =
  | { readonly kind: "Literal"; readonly type: "string"; readonly value: string; readonly span: Span }
  | { readonly kind: "Literal"; readonly type: "number"; readonly value: number; readonly raw: string; readonly span: Span }
  | { readonly kind: "Literal"; readonly type: "bool"; readonly value: boolean; readonly span: Span }
  | {
      readonly kind: "Literal";
      readonly type: "duration";
      readonly amount: number;
      readonly unit: DurationUnit;
      /** The duration in milliseconds (months = 30 days, years = 365 days). */
      readonly value: number;
      readonly span: Span;
    };

export interface Ident {
  readonly kind: "Ident";
  readonly name: string;
  readonly span: Span;
}

export interface VaultRef {
  readonly kind: "Vault";
  readonly path: string;
  readonly span: Span;
}

export interface ListExpr {
  readonly kind: "List";
  readonly items: readonly Expr[];
  readonly span: Span;
}

export interface RecordField {
  readonly key: string;
  /** The key was written as a string literal. */
  readonly quoted: boolean;
  readonly value: Expr;
  readonly span: Span;
}

export interface RecordExpr {
  readonly kind: "Record";
  readonly fields: readonly RecordField[];
  readonly span: Span;
}

export interface TypeLiteral {
  readonly kind: "TypeLiteral";
  readonly typeName: string;
  readonly fields: readonly RecordField[];
  readonly span: Span;
}

export interface IfExpr {
  readonly kind: "IfExpr";
  readonly cond: Expr;
  readonly then: Block;
  readonly else: Block | IfExpr;
  readonly span: Span;
}

export interface LambdaExpr {
  readonly kind: "Lambda";
  readonly param: string;
  readonly body: Expr;
  readonly span: Span;
}

export type BinaryOp = "||" | "&&" | "==" | "!=" | "in" | "<" | ">" | "<=" | ">=" | "+" | "-" | "*" | "/" | "%";

export interface BinaryExpr {
  readonly kind: "Binary";
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
  readonly span: Span;
}

export interface UnaryExpr {
  readonly kind: "Unary";
  readonly op: "!" | "not" | "-";
  readonly operand: Expr;
  readonly span: Span;
}

export interface MemberExpr {
  readonly kind: "Member";
  readonly object: Expr;
  readonly name: string;
  readonly span: Span;
}

export interface Arg {
  readonly name: string | undefined;
  readonly sep: "=" | ":" | undefined;
  readonly value: Expr;
  readonly span: Span;
}

export interface CallExpr {
  readonly kind: "Call";
  readonly callee: Expr;
  readonly args: readonly Arg[];
  readonly span: Span;
}

export interface IndexExpr {
  readonly kind: "Index";
  readonly object: Expr;
  readonly index: Expr;
  readonly span: Span;
}

/** Binding strength of binary operators, lowest first (all left-associative). */
export const BINARY_PRECEDENCE: Readonly<Record<BinaryOp, number>> = {
  "||": 1,
  "&&": 2,
  "==": 3,
  "!=": 3,
  in: 3,
  "<": 4,
  ">": 4,
  "<=": 4,
  ">=": 4,
  "+": 5,
  "-": 5,
  "*": 6,
  "/": 6,
  "%": 6,
};
