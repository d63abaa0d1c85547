// Builds ui/dist/ from ui/src/ with esbuild. Deterministic: no timestamps, no absolute
// paths, no source maps, so building twice gives byte-identical files.
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const src = join(root, "src");
const dist = join(root, "dist");

// Browsers we support: roughly the last three years, including older iPhones.
const target = ["chrome109", "edge109", "firefox115", "safari15.6"];

const htmxVersion = JSON.parse(
  await readFile(join(root, "node_modules", "htmx.org", "package.json"), "utf8"),
).version;

const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  sourcemap: false,
  metafile: false,
  write: false,
  charset: "utf8",
  legalComments: "none",
  logLevel: "warning",
  target,
};

async function build(options, out) {
  const result = await esbuild.build({ ...common, ...options });
  if (result.outputFiles.length !== 1) {
    throw new Error(`expected one output file for ${out}, got ${result.outputFiles.length}`);
  }
  await writeFile(join(dist, out), result.outputFiles[0].contents);
  console.log(`dist/${out}  ${result.outputFiles[0].contents.length} bytes`);
}

await mkdir(dist, { recursive: true });

await build(
  {
    entryPoints: ["src/bouquet.css"],
    outfile: "dist/bouquet.css",
    loader: { ".css": "css" },
    banner: { css: "/* Bouquet UI: see ui/README.md */" },
  },
  "bouquet.css",
);

await build(
  {
    entryPoints: ["src/bouquet.js"],
    outfile: "dist/bouquet.js",
    format: "iife",
    platform: "browser",
    banner: { js: `/* Bouquet UI: includes htmx.org ${htmxVersion} (0BSD). See ui/README.md */` },
  },
  "bouquet.js",
);

await copyFile(join(src, "favicon.svg"), join(dist, "favicon.svg"));
console.log("dist/favicon.svg  copied");
