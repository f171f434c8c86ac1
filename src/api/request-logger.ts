/**
 * Per-request loggers made lazily: fastify gives every request a child logger bound to its request id, and
 * with the runtime's redaction that child costs more than a small request itself. The child is only made
 * when something is logged at an enabled level; the request id binding is the same either way.
 */
import type { FastifyBaseLogger } from "fastify";

type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
const LEVELS: readonly Level[] = ["fatal", "error", "warn", "info", "debug", "trace"];

/** The runtime's logger is pino, which can say whether a level is on. */
type LevelAware = FastifyBaseLogger & { isLevelEnabled(level: string): boolean };

export function lazyChildLogger(base: FastifyBaseLogger, bindings: Record<string, unknown>): FastifyBaseLogger {
  const parent = base as LevelAware;
  let real: LevelAware | undefined;
  const get = (): LevelAware => (real ??= parent.child(bindings) as LevelAware);
  const logger = {
    get level() {
      return (real ?? parent).level;
    },
    set level(value: string) {
      get().level = value;
    },
    silent: () => undefined,
    child: (b: Record<string, unknown>, o?: object) => get().child(b, o),
    isLevelEnabled: (level: string) => (real ?? parent).isLevelEnabled(level),
  } as unknown as Record<string, unknown>;
  for (const level of LEVELS) {
    logger[level] = (...args: unknown[]) => {
      if (!real && !parent.isLevelEnabled(level)) return;
      (get()[level] as (...a: unknown[]) => void)(...args);
    };
  }
  return logger as unknown as FastifyBaseLogger;
}
