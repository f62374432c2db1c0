/**
 * How this project runs TypeScript (`node -r ./scripts/ts-register.js file.ts`, the npm scripts, mocha):
 * ts-node in transpile-only mode (`npm run typecheck` checks the types), with ts-transpiler.js keeping
 * each compiled file for the next process.
 */
const path = require("node:path");

require("ts-node").register({ transpileOnly: true, transpiler: path.join(__dirname, "ts-transpiler.js") });
