// The reproducible build of the verifier page's script: bundles src/page.js and everything it imports
// (the verifier core and the vendored npm packages, at the versions package-lock.json pins) into ONE
// minified IIFE, src/provchain/web/verifier.js, and writes the licences of every bundled third-party
// package to src/provchain/web/THIRD_PARTY_LICENSES.txt. Both files are committed; `npm ci && node
// build.mjs` reproduces them byte for byte (tests/test_verifier_page.py builds into a temporary directory
// and compares).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
// `node build.mjs [OUTDIR]`: OUTDIR (default: the package data directory) receives both files.
const out = process.argv[2] ? process.argv[2] : join(here, "..", "src", "provchain", "web");

const result = await esbuild.build({
  entryPoints: [join(here, "src", "page.js")],
  bundle: true,
  minify: true,
  format: "iife",
  platform: "browser",
  target: ["es2020"],
  charset: "utf8",
  legalComments: "none",
  sourcemap: false,
  metafile: true,
  write: false,
  absWorkingDir: here,
});

const code = result.outputFiles[0].text;
if (/<\/script|<!--/i.test(code)) throw new Error("the bundle holds </script or <!--: it cannot be inlined");
writeFileSync(join(out, "verifier.js"), code);

// The licences of the bundled packages, sorted by name.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/^(?:.*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (!m) continue;
  const root = join(here, input.slice(0, input.indexOf(m[0]) + m[0].length));
  packages.set(m[1], root);
}
const parts = [
  "Third-party software bundled in verifier.js (built by web/build.mjs from the npm registry at the versions",
  "pinned in web/package-lock.json). Each package's licence text follows.",
  "",
];
for (const name of [...packages.keys()].sort()) {
  const root = packages.get(name);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const licenceFile = ["LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license"].find((f) => {
    try {
      readFileSync(join(root, f));
      return true;
    } catch {
      return false;
    }
  });
  if (!licenceFile) throw new Error(`${name} has no licence file`);
  parts.push("=".repeat(78), `${meta.name} ${meta.version} (${meta.license}) ${relative(here, root)}`, "=".repeat(78));
  parts.push(readFileSync(join(root, licenceFile), "utf8").trimEnd(), "");
}
writeFileSync(join(out, "THIRD_PARTY_LICENSES.txt"), parts.join("\n"));
console.log(`wrote verifier.js (${code.length} bytes) and THIRD_PARTY_LICENSES.txt (${packages.size} packages)`);
