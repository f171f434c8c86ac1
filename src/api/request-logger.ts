/**
 * Per-request loggers made lazily: fastify gives every request a child logger bound to its request id, and
 * with the runtime's redaction that child costs more than a small request itself. The child is only made
 * when something is logged at an enabled level; the request id binding is the same either way. A class, so
 * a request costs one small object and no closures.
 */
import type { FastifyBaseLogger } from "fastify";

/** The runtime's logger is pino, which can say whether a level is on. */
type LevelAware = FastifyBaseLogger & { isLevelEnabled(level: string): boolean };
type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

class LazyChildLogger {
  readonly #parent: LevelAware;
  readonly #bindings: Record<string, unknown>;
  #real: LevelAware | undefined;

  constructor(parent: LevelAware, bindings: Record<string, unknown>) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  #get(): LevelAware {
    return (this.#real ??= this.#parent.child(this.#bindings) as LevelAware);
  }

  #log(level: Level, args: unknown[]): void {
    if (!this.#real && !this.#parent.isLevelEnabled(level)) return;
    (this.#get()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.#real ?? this.#parent).level;
  }

  set level(value: string) {
    this.#get().level = value;
  }

  silent(): void {}

  child(bindings: Record<string, unknown>, options?: object): FastifyBaseLogger {
    return this.#get().child(bindings, options);
  }

  isLevelEnabled(level: string): boolean {
    return (this.#real ?? this.#parent).isLevelEnabled(level);
  }

  fatal(...args: unknown[]): void {
    this.#log("fatal", args);
  }

  error(...args: unknown[]): void {
    this.#log("error", args);
  }

  warn(...args: unknown[]): void {
    this.#log("warn", args);
  }

  info(...args: unknown[]): void {
    this.#log("info", args);
  }

  debug(...args: unknown[]): void {
    this.#log("debug", args);
  }

  trace(...args: unknown[]): void {
    this.#log("trace", args);
  }
}

export function lazyChildLogger(base: FastifyBaseLogger, bindings: Record<string, unknown>): FastifyBaseLogger {
  return new LazyChildLogger(base as LevelAware, bindings) as unknown as FastifyBaseLogger;
}
