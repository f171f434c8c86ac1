/**
 * The OpenAPI 3 document, generated from the route table: the same zod schemas that validate requests
 * describe them here (`z.toJSONSchema`, OpenAPI 3.0 target).
 */
import { z } from "zod";
import { ERROR_CODES } from "../core/error-codes.js";
import type { RouteTable } from "./route.js";

type Json = Record<string, unknown>;

function schemaOf(s: z.ZodType, io: "input" | "output"): Json {
  const out = z.toJSONSchema(s, { target: "openapi-3.0", io, unrepresentable: "any" }) as Json;
  delete out.$schema;
  return out;
}

function parametersOf(s: z.ZodType | undefined, where: "path" | "query"): Json[] {
  if (!s) return [];
  const js = schemaOf(s, "input") as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, schema]) => ({
    name,
    in: where,
    required: where === "path" || (js.required ?? []).includes(name),
    schema,
  }));
}

const errorSchema: Json = {
  type: "object",
  required: ["error", "code", "details"],
  properties: {
    error: { type: "string" },
    code: { type: "string", enum: Object.keys(ERROR_CODES) },
    details: { type: "object", nullable: true, additionalProperties: true },
  },
};

export function buildOpenApi(table: RouteTable, version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of table.routes) {
    const path = r.fullUrl.replace(/:([A-Za-z_]+)/g, "{$1}");
    const status = String(r.status ?? 200);
    const success: Json = r.produces
      ? { description: "OK", content: { [r.produces.split(";")[0] as string]: { schema: { type: "string" } } } }
      : { description: "OK", content: { "application/json": { schema: r.response ? schemaOf(r.response, "output") : {} } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ""))}`,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      ...(r.access === "public" ? { security: [] } : {}),
      ...(r.access === "admin" ? { "x-requires-admin": true } : {}),
      parameters: [...parametersOf(r.params, "path"), ...parametersOf(r.query, "query")],
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: schemaOf(r.body, "input") } } } } : {}),
      responses: {
        [status]: success,
        default: { description: "Error: {error, code, details}", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
      },
    };
  }
  return {
    openapi: "3.0.3",
    info: { title: "Symbiont Runtime API", version, description: "Send `Authorization: Bearer <key_id>.<secret>` on every route except the health probes." },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "<key_id>.<secret>" } },
      schemas: { Error: errorSchema },
    },
    paths,
  };
}
