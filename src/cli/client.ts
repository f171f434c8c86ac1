/**
 * The CLI's HTTP client: talks to a running runtime over the API (`--url`/SYMBIONT_URL, `--key`/
 * SYMBIONT_API_KEY). API errors come back as `ApiCallError` carrying the server's `{error, code, details}`.
 */

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
    this.name = "ApiCallError";
  }
}

export interface ClientOptions {
  readonly url: string;
  readonly key?: string | undefined;
  /** ms */
  readonly timeout?: number;
}

export class ApiClient {
  readonly #base: string;
  readonly #key: string | undefined;
  readonly #timeout: number;

  constructor(options: ClientOptions) {
    this.#base = `${options.url.replace(/\/+$/, "")}/api/v1`;
    this.#key = options.key;
    this.#timeout = options.timeout ?? 120_000;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }
  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>("POST", path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }
  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: {
          ...(this.#key ? { authorization: `Bearer ${this.#key}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeout),
      });
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiCallError(0, "CONNECTION_FAILED", `cannot reach ${this.#base}: ${reason}`, null);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    if (!res.ok) {
      const e = (data ?? {}) as { code?: string; error?: string; details?: unknown };
      throw new ApiCallError(res.status, e.code ?? `HTTP_${res.status}`, e.error ?? res.statusText, e.details ?? null);
    }
    return data as T;
  }
}
