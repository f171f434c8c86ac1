/**
 * An API server on a fresh runtime (tmp data dir, in-memory keys) with an admin key, for route tests.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { createApiServer } from "../../src/api/server.js";
import { MemoryApiKeyStore } from "../../src/api/keys/index.js";
import type { RuntimeConfigInput } from "../../src/core/config/index.js";
import { silentLogger } from "../../src/core/logger.js";
import { createRuntime, type Runtime } from "../../src/runtime.js";

export interface TestApi {
  readonly app: FastifyInstance;
  readonly runtime: Runtime;
  /** `Bearer <admin key>` */
  readonly admin: string;
  /** Sends a request as `auth` (default: the admin key); JSON bodies are serialized. */
  call(method: InjectOptions["method"], url: string, body?: unknown, auth?: string | null, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  /** Creates a key through the API and returns its `Bearer ...` header. */
  key(body: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export async function makeApi(config: RuntimeConfigInput = {}): Promise<TestApi> {
  const dataDir = mkdtempSync(join(tmpdir(), "symbiont-api-"));
  const runtime = await createRuntime({
    config: { data_dir: dataDir, ...config, lifecycle: { enable_auto_recovery: false, ...config.lifecycle }, api: { key_store: "memory", ...config.api } },
    logger: silentLogger(),
  });
  const keyStore = new MemoryApiKeyStore();
  const app = await createApiServer(runtime, { keyStore });
  await app.ready();
  let admin = "";
  if (app.apiKeys) admin = `Bearer ${(await app.apiKeys.create({ name: "test-admin", admin: true })).token}`;
  const call: TestApi["call"] = (method, url, body, auth = admin, headers = {}) =>
    app.inject({
      method,
      url,
      headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined && typeof body !== "string" ? { "content-type": "application/json" } : {}), ...headers },
      ...(body !== undefined ? { payload: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
  return {
    app,
    runtime,
    admin,
    call,
    async key(body) {
      const res = await call("POST", "/api/v1/keys", body);
      if (res.statusCode !== 201) throw new Error(`key create failed: ${res.statusCode} ${res.body}`);
      return `Bearer ${(res.json() as { key: string }).key}`;
    },
    async close() {
      await app.close();
      await runtime.shutdown();
    },
  };
}
