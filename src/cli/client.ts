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
    const res = await this.#fetch(method, path, body);
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    if (!res.ok) throw callError(res, data);
    return data as T;
  }

  /**
   * GETs `path` and writes the answer's body to `out` as it arrives (for exports too large to hold); resolves
   * with the bytes written. A connection cut mid-way rejects, so a partial download is never taken as whole.
   */
  async download(path: string, out: { write(chunk: Uint8Array): unknown }): Promise<number> {
    // No overall timeout: a large export may stream for longer than any request should take.
    const res = await this.#fetch("GET", path, undefined, null);
    if (!res.ok) {
      const text = await res.text();
      let data: unknown = text;
      try {
        data = JSON.parse(text);
      } catch {
        // a non-JSON error body is reported as its status text
      }
      throw callError(res, data);
    }
    let bytes = 0;
    if (!res.body) return bytes;
    try {
      for await (const chunk of res.body) {
        out.write(chunk);
        bytes += chunk.byteLength;
      }
    } catch (err) {
      throw new ApiCallError(0, "CONNECTION_FAILED", `the download from ${this.#base}${path} was cut after ${bytes} bytes: ${(err as Error).message}`, null);
    }
    return bytes;
  }

  async #fetch(method: string, path: string, body?: unknown, timeout: number | null = this.#timeout): Promise<Response> {
    try {
      return await fetch(`${this.#base}${path}`, {
        method,
        headers: {
          ...(this.#key ? { authorization: `Bearer ${this.#key}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(timeout !== null ? { signal: AbortSignal.timeout(timeout) } : {}),
      });
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiCallError(0, "CONNECTION_FAILED", `cannot reach ${this.#base}: ${reason}`, null);
    }
  }
}

function callError(res: Response, data: unknown): ApiCallError {
  const e = (data && typeof data === "object" ? data : {}) as { code?: string; error?: string; details?: unknown };
  return new ApiCallError(res.status, e.code ?? `HTTP_${res.status}`, e.error ?? res.statusText, e.details ?? null);
}
