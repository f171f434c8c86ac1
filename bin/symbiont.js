#!/usr/bin/env node
// Runs the compiled CLI. `npm ci` builds dist/ (the `prepare` script); `npm run build` rebuilds it.
import("../dist/cli/bin.js").catch((err) => {
  if (err && err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("dist/cli/bin.js")) {
    console.error("symbiont: dist/ is missing; run `npm run build` (or `npm ci`) first");
  } else {
    console.error(err);
  }
  process.exit(1);
});
