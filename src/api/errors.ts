/**
 * The one place errors become HTTP responses: `{error, code, details}` with the status of the code. Nothing
 * internal (stack, cause, file paths) leaves the process.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { isRuntimeError } from "../core/errors.js";

export interface ErrorBody {
  readonly error: string;
  readonly code: string;
  readonly details: Record<string, unknown> | null;
}

export function errorBody(err: unknown): { status: number; body: ErrorBody } {
  if (isRuntimeError(err)) return { status: err.status, body: err.toJSON() };
  const fe = err as Partial<FastifyError>;
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return {
      status: fe.statusCode,
      body: { error: fe.message ?? "Bad request", code: fe.code ?? "BAD_REQUEST", details: null },
    };
  }
  return { status: 500, body: { error: "Internal server error", code: "INTERNAL_ERROR", details: null } };
}

export function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body } = errorBody(err);
  if (status >= 500) request.log.error({ err }, "request failed");
  return reply.status(status).send(body);
}
