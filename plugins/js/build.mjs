// Builds one JavaScript guest component with componentize-js's API (the jco
// CLI does not run on every Node version we support).
//
//   node build.mjs <source.js> <wit dir> <world> <out.wasm>
//
// http and fetch-event are disabled: guests get clocks, random and stdio only,
// matching the host's WASI policy.
import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile, rename } from "node:fs/promises";

const [sourcePath, witPath, worldName, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node build.mjs <source.js> <wit dir> <world> <out.wasm>");
  process.exit(2);
}
const { component } = await componentize({
  sourcePath,
  witPath,
  worldName,
  disableFeatures: ["http", "fetch-event"],
});
const tmp = `${out}.tmp${process.pid}`;
await writeFile(tmp, component);
await rename(tmp, out);
