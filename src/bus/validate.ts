/**
 * Checks a message handed to the bus by a caller (an agent, the API): every field well-formed and the
 * payload within max_message_size. Returns a normalised copy (lower-case ids).
 */
import { CommunicationError, ValidationError } from "../core/errors.js";
import { AgentId, MessageId } from "../core/ids.js";
import { PRIORITIES, type Message } from "../core/types.js";
import { validateTopic } from "./topics.js";

export function invalidMessage(path: string, message: string): ValidationError {
  return new ValidationError("message", [{ path, message }]);
}

/**
 * Throws VALIDATION_FAILED for a malformed field and MESSAGE_TOO_LARGE for an oversize payload. `known`
 * answers true for an agent id the caller already holds in its parsed (lower-case) form: that one is used
 * as is, without parsing it again on every message.
 */
export function validateMessage(message: Message, maxMessageSize: number, known?: (id: unknown) => boolean): Message {
  if (typeof message !== "object" || message === null) throw invalidMessage("", "message must be an object");
  const { payload, priority, ttl } = message;
  if (!(payload instanceof Uint8Array)) throw invalidMessage("payload", "must be a Uint8Array");
  if (!PRIORITIES.includes(priority)) throw invalidMessage("priority", `must be one of ${PRIORITIES.join(", ")}`);
  if (!Number.isSafeInteger(ttl) || ttl < 0) throw invalidMessage("ttl", "must be a non-negative integer (ms)");
  if (payload.byteLength > maxMessageSize) {
    throw new CommunicationError("MESSAGE_TOO_LARGE", `Message payload is ${payload.byteLength} bytes; max_message_size is ${maxMessageSize}`, {
      details: { size: payload.byteLength, max_size: maxMessageSize },
    });
  }
  return {
    id: MessageId.parse(message.id),
    from: known?.(message.from) ? message.from : AgentId.parse(message.from),
    to: known?.(message.to) ? message.to : AgentId.parse(message.to),
    topic: validateTopic(message.topic),
    payload,
    priority,
    ttl,
    ...(message.correlation_id !== undefined ? { correlation_id: MessageId.parse(message.correlation_id) } : {}),
  };
}
