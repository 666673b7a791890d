// Compile a solc standard-JSON input (stdin) with the pinned npm `solc` and print the output
// (stdout). Imports that are not given as sources (OpenZeppelin) are read from node_modules, so
// the Python side never needs to know the package layout.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

function findImports(importPath) {
  // Sources under src/ that were not passed in (a partial build with --only).
  const local = path.join(__dirname, "src", importPath);
  if (fs.existsSync(local)) return { contents: fs.readFileSync(local, "utf8") };
  try {
    const resolved = require.resolve(importPath, { paths: [process.cwd(), __dirname] });
    return { contents: fs.readFileSync(resolved, "utf8") };
  } catch (err) {
    return { error: "import not found: " + importPath };
  }
}

const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  const input = Buffer.concat(chunks).toString("utf8");
  if (process.argv.includes("--version")) {
    process.stdout.write(solc.version());
    return;
  }
  process.stdout.write(solc.compile(input, { import: findImports }));
});
