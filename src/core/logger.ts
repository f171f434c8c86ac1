/**
 * The runtime's one logger (pino). Secrets are redacted by path so that no key, token or password reaches a
 * log line even when a whole object is logged.
 */
import { pino, type Logger as PinoLogger, type LevelWithSilent } from "pino";

export type Logger = PinoLogger;

/** Field names that are never logged, at any depth we commonly log. */
export const REDACTED_KEYS = [
  "authorization",
  "api_key",
  "apiKey",
  "secret",
  "password",
  "token",
  "signing_key",
  "encryption_key",
  "private_key",
  "privateKey",
  "key_secret",
];

const REDACT_PATHS = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `req.headers.${k}`]);

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Human-readable output; defaults to on when stdout is a TTY. */
  readonly pretty?: boolean;
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const base = { level, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, base: { pid: process.pid } };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  if (pretty) {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:standard" } } });
  }
  return pino(base);
}

/** A logger that discards everything, for tests and embedding. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
