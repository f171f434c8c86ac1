/**
 * The LLM provider behind `reason(...)` and `llm_call(...)`, and its OpenAI-compatible HTTP adapter
 * (`POST {base_url}/chat/completions` with a bearer key). Without a configured base URL every call fails with
 * `LLM_NOT_CONFIGURED` at the call site. The key is sent only in the Authorization header and never logged.
 */
import { DslError } from "../core/errors.js";

export interface LlmMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

export interface LlmRequest {
  readonly messages: readonly LlmMessage[];
  readonly model?: string;
  readonly temperature?: number;
  readonly max_tokens?: number;
}

export interface LlmAnswer {
  readonly content: string;
  readonly model: string;
  readonly finish_reason: string | null;
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number; readonly total_tokens: number } | null;
}

export interface LlmProvider {
  /** Where requests go (for the `network.http` policy check). */
  readonly endpoint: string;
  readonly defaultModel: string;
  complete(request: LlmRequest, signal?: AbortSignal): Promise<LlmAnswer>;
}

export interface OpenAiCompatibleOptions {
  readonly base_url: string;
  readonly api_key?: string;
  readonly model: string;
  /** ms */
  readonly timeout_ms: number;
}

export class OpenAiCompatibleProvider implements LlmProvider {
  readonly endpoint: string;
  readonly defaultModel: string;

  constructor(private readonly options: OpenAiCompatibleOptions) {
    this.endpoint = `${options.base_url.replace(/\/+$/, "")}/chat/completions`;
    this.defaultModel = options.model;
  }

  async complete(request: LlmRequest, signal?: AbortSignal): Promise<LlmAnswer> {
    const model = request.model ?? this.defaultModel;
    const body = {
      model,
      messages: request.messages,
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.max_tokens !== undefined ? { max_tokens: request.max_tokens } : {}),
    };
    const timeout = AbortSignal.timeout(this.options.timeout_ms);
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.options.api_key ? { authorization: `Bearer ${this.options.api_key}` } : {}),
        },
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (e) {
      throw new DslError("LLM_REQUEST_FAILED", `LLM request to ${this.endpoint} failed: ${(e as Error).message}`, { cause: e });
    }
    const text = await res.text();
    if (!res.ok) {
      throw new DslError("LLM_REQUEST_FAILED", `LLM provider answered HTTP ${res.status}: ${text.slice(0, 300)}`, {
        details: { status: res.status },
      });
    }
    let data: { model?: string; choices?: { message?: { content?: unknown }; finish_reason?: string | null }[]; usage?: LlmAnswer["usage"] };
    try {
      data = JSON.parse(text) as typeof data;
    } catch {
      throw new DslError("LLM_REQUEST_FAILED", `LLM provider answered with something other than JSON: ${text.slice(0, 200)}`);
    }
    const choice = data.choices?.[0];
    const content = choice?.message?.content;
    if (typeof content !== "string") {
      throw new DslError("LLM_REQUEST_FAILED", "LLM provider answered without choices[0].message.content");
    }
    return { content, model: data.model ?? model, finish_reason: choice?.finish_reason ?? null, usage: data.usage ?? null };
  }
}

/** The provider for `config`, or `undefined` when no base URL is configured. */
export function createLlmProvider(config: { base_url?: string | undefined; api_key?: string | undefined; model: string; timeout_ms: number }): LlmProvider | undefined {
  if (!config.base_url) return undefined;
  return new OpenAiCompatibleProvider({ base_url: config.base_url, ...(config.api_key ? { api_key: config.api_key } : {}), model: config.model, timeout_ms: config.timeout_ms });
}

export function llmNotConfigured(): DslError {
  return new DslError(
    "LLM_NOT_CONFIGURED",
    "this agent called an LLM but none is configured: set dsl.llm.base_url (and dsl.llm.api_key) in the runtime config, e.g. SYMBIONT_DSL__LLM__BASE_URL=https://api.openai.com/v1",
  );
}
