/**
 * Topic names and NATS-style subscription patterns. Topics are dot-separated tokens (`orders.eu.created`);
 * a pattern may use `*` for exactly one token and a final `>` for one or more trailing tokens.
 */
import { ValidationError } from "../core/errors.js";

const TOKEN_RE = /^[A-Za-z0-9_\-:]+$/;
const MAX_TOPIC_LENGTH = 256;

function check(text: unknown, what: "topic" | "pattern"): string[] {
  const fail = (message: string): never => {
    throw new ValidationError(what, [{ path: what, message }]);
  };
  if (typeof text !== "string" || text.length === 0) fail("must be a non-empty string");
  const s = text as string;
  if (s.length > MAX_TOPIC_LENGTH) fail(`must be at most ${MAX_TOPIC_LENGTH} characters`);
  const tokens = s.split(".");
  tokens.forEach((t, i) => {
    if (what === "pattern" && t === "*") return;
    if (what === "pattern" && t === ">") {
      if (i !== tokens.length - 1) fail("'>' may only be the last token");
      return;
    }
    if (!TOKEN_RE.test(t)) {
      fail(
        what === "topic" && (t === "*" || t === ">")
          ? "a topic to publish on cannot contain wildcards"
          : `token ${JSON.stringify(t)} must be letters, digits, '_', '-' or ':'`,
      );
    }
  });
  return tokens;
}

/** A whole concrete topic in one test: every message is checked, and valid topics are the common case. */
const TOPIC_RE = /^[A-Za-z0-9_\-:]+(?:\.[A-Za-z0-9_\-:]+)*$/;

/** Validates a concrete topic (no wildcards); throws VALIDATION_FAILED. */
export function validateTopic(topic: unknown): string {
  if (typeof topic === "string" && topic.length <= MAX_TOPIC_LENGTH && TOPIC_RE.test(topic)) return topic;
  check(topic, "topic");
  return topic as string;
}

/** Validates a subscription pattern (wildcards allowed); throws VALIDATION_FAILED. */
export function validatePattern(pattern: unknown): string {
  check(pattern, "pattern");
  return pattern as string;
}

/** True when the concrete `topic` matches `pattern` under NATS rules. */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern === topic) return true;
  const p = pattern.split(".");
  const t = topic.split(".");
  for (let i = 0; i < p.length; i++) {
    const tok = p[i];
    if (tok === ">") return t.length > i;
    if (i >= t.length) return false;
    if (tok !== "*" && tok !== t[i]) return false;
  }
  return p.length === t.length;
}
