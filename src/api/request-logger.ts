/**
 * Per-request loggers made lazily: fastify gives every request a child logger bound to its request id, and
 * with the runtime's redaction that child costs more than a small request itself. The child is only made
 * when something is logged at an enabled level; the request id binding is the same either way. A class, so
 * a request costs one small object and no closures.
 *
 * The laziness lives in the logger handed to fastify (`withLazyChildren`), not in a `childLoggerFactory`:
 * fastify checks every child a custom factory returns for its methods, which costs several times the child.
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

/**
 * `base` (pino) with a `child` that is lazy: the logger to give fastify. Like pino's own children it inherits
 * everything else from `base` through its prototype. A child asked for with options (fastify adds its
 * serializers to the logger it is given; a route may set a log level) is made at once, and its own children
 * are lazy again.
 */
export function withLazyChildren(base: FastifyBaseLogger): FastifyBaseLogger {
  const root = Object.create(base) as FastifyBaseLogger;
  root.child = function lazyChild(bindings: Record<string, unknown>, options?: { level?: string; serializers?: object }): FastifyBaseLogger {
    if (options?.level !== undefined || options?.serializers !== undefined) return withLazyChildren(base.child(bindings, options as object));
    return new LazyChildLogger(base as LevelAware, bindings) as unknown as FastifyBaseLogger;
  };
  return root;
}
