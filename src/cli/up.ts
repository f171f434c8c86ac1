/**
 * `symbiont up`: the runtime and its HTTP API on embedded defaults, until SIGINT/SIGTERM.
 */
import type { Command } from "commander";
import { loadConfig, type RuntimeConfigInput } from "../core/config/index.js";
import { createLogger } from "../core/logger.js";
import type { FastifyInstance } from "fastify";
import { isLoopback } from "../api/auth.js";
import { createApiServer } from "../api/server.js";
import { createRuntime } from "../runtime.js";
import { loadAgentDir } from "../dsl/agent-dir.js";

interface UpOptions {
  readonly port?: string;
  readonly host?: string;
  readonly config?: string;
  readonly dataDir?: string;
  readonly logLevel?: string;
  readonly insecureNoAuth?: boolean;
  readonly agents?: string;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`--port must be an integer between 0 and 65535, got ${JSON.stringify(text)}`);
  }
  return port;
}

/**
 * On first start (no active key) creates an admin key and prints it once on stdout; only its hash is stored.
 */
async function bootstrapAdminKey(server: FastifyInstance): Promise<void> {
  const keys = server.apiKeys;
  if (!keys || (await keys.countActive()) > 0) return;
  const { token, info } = await keys.create({ name: "admin (created at first start)", admin: true });
  process.stdout.write(
    `\nCreated the first admin API key (id ${info.key_id}). It is shown only this once; store it now:\n\n  ${token}\n\n` +
      `Use it as: Authorization: Bearer <key>   (CLI: --key or SYMBIONT_API_KEY)\n\n`,
  );
}

export async function up(options: UpOptions): Promise<void> {
  const overrides: Record<string, unknown> = {};
  const api: Record<string, unknown> = {};
  if (options.port !== undefined) api.port = parsePort(options.port);
  if (options.host !== undefined) api.bind_address = options.host;
  if (options.insecureNoAuth) api.auth_required = false;
  if (Object.keys(api).length) overrides.api = api;
  if (options.dataDir !== undefined) overrides.data_dir = options.dataDir;
  if (options.logLevel !== undefined) overrides.log_level = options.logLevel;
  const config = loadConfig({
    ...(options.config ? { file: options.config } : {}),
    overrides: overrides as RuntimeConfigInput,
  });
  if (!config.api.auth_required && !isLoopback(config.api.bind_address)) {
    throw new Error(`--insecure-no-auth is allowed only on a loopback address (127.0.0.1, ::1), not ${config.api.bind_address}`);
  }
  const logger = createLogger({ level: config.log_level });
  const runtime = await createRuntime({ config, logger });
  let server;
  try {
    if (options.agents !== undefined) {
      const loaded = await loadAgentDir(options.agents, runtime);
      logger.info({ dir: options.agents, ...loaded }, `loaded ${loaded.files.length} DSL file(s) from ${options.agents}`);
    }
    server = await createApiServer(runtime);
  } catch (err) {
    await runtime.shutdown();
    throw err;
  }
  if (!config.api.auth_required) {
    logger.warn("API authentication is DISABLED (--insecure-no-auth): every local process can act as admin");
    process.stderr.write("WARNING: API authentication is disabled (--insecure-no-auth); use only for local development.\n");
  } else {
    await bootstrapAdminKey(server);
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    let code = 0;
    try {
      // Stop accepting first, then cancel work in flight (a waiting workflow execute would otherwise hold
      // the server open), then wait for the last answers to go out.
      const closing = server.close();
      await runtime.shutdown();
      await closing;
    } catch (err) {
      logger.error({ err }, "shutdown failed");
      code = 1;
    }
    logger.flush();
    process.exit(code);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));

  const address = await server.listen({ host: config.api.bind_address, port: config.api.port });
  logger.info(
    { address, version: runtime.version, store: runtime.store.info.location, agents_restored: runtime.recovery.agents.restored },
    `Symbiont runtime listening on ${address}`,
  );
}

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("start the runtime and its HTTP API")
    .option("-p, --port <port>", "port to listen on (default 8080)")
    .option("-H, --host <host>", "address to bind (default 127.0.0.1)")
    .option("-c, --config <file>", "YAML or JSON config file")
    .option("-d, --data-dir <dir>", "where embedded state lives (default ./.symbiont)")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent")
    .option("--agents <dir>", "create and start the agents of every .symbi file in <dir> (any error stops start-up)")
    .option("--insecure-no-auth", "serve the API without API keys (loopback binds only; development)")
    .action((opts: UpOptions) => up(opts));
}
