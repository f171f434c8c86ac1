/**
 * The one place errors become HTTP responses: `{error, code, details}` with the status of the code (from
 * `ERROR_CODES`). Fastify's own errors (body parsing, limits) are translated to runtime codes here too.
 * Nothing internal leaves the process: no stack, no cause, and in 5xx answers file paths are redacted.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ERROR_CODES, type ErrorCode } from "../core/error-codes.js";
import { isRuntimeError } from "../core/errors.js";
import { stampReply } from "./http-hooks.js";

export interface ErrorBody {
  readonly error: string;
  readonly code: string;
  readonly details: Record<string, unknown> | null;
}

/** Fastify error codes that have a runtime code of their own. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_EMPTY_JSON_BODY: "MALFORMED_JSON",
  FST_ERR_CTP_INVALID_JSON_BODY: "MALFORMED_JSON",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "VALIDATION_FAILED",
  FST_ERR_CTP_INVALID_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_MAX_PARAM_LENGTH: "VALIDATION_FAILED",
  FST_ERR_BAD_URL: "VALIDATION_FAILED",
  FST_ERR_ASYNC_CONSTRAINT: "VALIDATION_FAILED",
};

const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  429: "RATE_LIMITED",
};

const PATH_RE = /(?<![\w/])\/(?:[\w.@-]+\/)+[\w.@-]*/g;

function redact(value: unknown): unknown {
  if (typeof value === "string") return value.replace(PATH_RE, "[path]");
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v)]));
  return value;
}

function body(code: ErrorCode, error: string, details: Record<string, unknown> | null = null): { status: number; body: ErrorBody } {
  return { status: ERROR_CODES[code].status, body: { error, code, details } };
}

export function errorBody(err: unknown): { status: number; body: ErrorBody } {
  if (isRuntimeError(err)) {
    const b = err.toJSON();
    if (err.status < 500) return { status: err.status, body: b };
    return { status: err.status, body: redact(b) as ErrorBody };
  }
  const fe = err as Partial<FastifyError> & { name?: string };
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return body(mapped, mapped === "MALFORMED_JSON" ? "The request body is not valid JSON" : (fe.message ?? ERROR_CODES[mapped].description));
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Fastify's JSON parser throws a SyntaxError carrying statusCode 400.
    if (fe.statusCode === 400 && fe.name === "SyntaxError") return body("MALFORMED_JSON", "The request body is not valid JSON");
    const code = STATUS_CODES[fe.statusCode] ?? "VALIDATION_FAILED";
    return body(code, fe.message ?? ERROR_CODES[code].description);
  }
  return body("INTERNAL_ERROR", "Internal server error");
}

export function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body: b } = errorBody(err);
  if (status >= 500) request.log.error({ err }, "request failed");
  else request.log.debug({ code: b.code }, "request refused");
  // Router-level failures are answered before the onRequest hook that sets these.
  if (!reply.hasHeader("x-request-id")) stampReply(reply, request.id);
  if (status === 429 && isRuntimeError(err) && typeof err.details?.retry_after_seconds === "number") {
    void reply.header("retry-after", String(err.details.retry_after_seconds));
  }
  return reply.status(status).send(b);
}
