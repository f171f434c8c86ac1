/**
 * The OpenAPI document and a small self-contained docs page (no CDN): the page is static and public; it asks
 * for an API key and fetches the document with it.
 */
import type { FastifyInstance } from "fastify";
import { route, type ApiContext } from "../context.js";
import { buildOpenApi } from "../openapi.js";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Symbiont Runtime API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em;color:#222}
h1{font-size:1.4em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;margin:.5em 0}.op>summary{cursor:pointer;padding:.4em .6em}
.m{display:inline-block;min-width:4.5em;font-weight:bold}.GET{color:#0a6}.POST{color:#06c}.PUT{color:#a60}.DELETE{color:#c22}
pre{background:#f6f6f6;padding:.6em;overflow:auto;margin:.3em .6em}.body{padding:0 .6em .6em}
input{width:32em;padding:.3em}</style></head>
<body><h1>Symbiont Runtime API</h1>
<p><label>API key <input id="key" type="password" placeholder="key_id.secret"></label> <button id="load">Load</button> <span id="msg"></span></p>
<div id="ops"></div><script src="docs/app.js"></script></body></html>`;

const SCRIPT = `"use strict";
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) { const e = document.createElement(tag); Object.assign(e, attrs || {}); for (const k of kids) e.append(k); return e; }
async function load() {
  const key = $("key").value.trim(); sessionStorage.setItem("symbiont-key", key);
  const res = await fetch("openapi.json", { headers: key ? { Authorization: "Bearer " + key } : {} });
  const doc = await res.json();
  if (!res.ok) { $("msg").textContent = doc.code + ": " + doc.error; return; }
  $("msg").textContent = doc.info.title + " " + doc.info.version; const ops = $("ops"); ops.textContent = "";
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) (byTag[op.tags[0]] ||= []).push([method.toUpperCase(), path, op]);
  for (const [tag, list] of Object.entries(byTag)) {
    ops.append(el("h2", { textContent: tag }));
    for (const [m, path, op] of list) {
      const body = el("div", { className: "body" });
      if (op.description) body.append(el("p", { textContent: op.description }));
      if (op.parameters && op.parameters.length) body.append(el("p", { textContent: "Parameters" }), el("pre", { textContent: JSON.stringify(op.parameters, null, 2) }));
      if (op.requestBody) body.append(el("p", { textContent: "Request body" }), el("pre", { textContent: JSON.stringify(op.requestBody.content["application/json"].schema, null, 2) }));
      for (const [st, r] of Object.entries(op.responses)) if (r.content) body.append(el("p", { textContent: "Response " + st }), el("pre", { textContent: JSON.stringify(Object.values(r.content)[0].schema, null, 2) }));
      ops.append(el("details", { className: "op" }, el("summary", {}, el("span", { className: "m " + m, textContent: m }), path + " — " + op.summary + (op.security && !op.security.length ? " (public)" : "")), body));
    }
  }
}
$("key").value = sessionStorage.getItem("symbiont-key") || "";
$("load").addEventListener("click", () => void load());
if ($("key").value) void load();
`;

export function docsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  let cached: unknown;
  route(app, ctx, {
    method: "GET",
    url: "/openapi.json",
    tag: "docs",
    access: "key",
    summary: "This API's OpenAPI 3 document",
    handler: () => (cached ??= buildOpenApi(ctx.table, ctx.runtime.version)),
  });
  route(app, ctx, {
    method: "GET",
    url: "/docs",
    tag: "docs",
    access: "public",
    summary: "A page that renders the OpenAPI document (asks for a key)",
    produces: "text/html; charset=utf-8",
    handler: ({ reply }) => {
      void reply.header("content-security-policy", "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
      return PAGE;
    },
  });
  route(app, ctx, {
    method: "GET",
    url: "/docs/app.js",
    tag: "docs",
    access: "public",
    summary: "The docs page's script",
    produces: "text/javascript; charset=utf-8",
    handler: () => SCRIPT,
  });
}
