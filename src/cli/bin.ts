import { run } from "./main.js";

const code = await run(process.argv);
// `up` keeps the process alive with its server; every other command ends here.
if (code !== 0) process.exit(code);
