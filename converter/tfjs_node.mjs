// TensorFlow.js in Node, set up exactly as the browser runs it: the libraries are resolved from the repository's
// web/node_modules (the very files the server ships), so scripts work from any working directory. Shared by
// converter/tfjs_predict.mjs (model parity) and training/detect_faces.mjs (the browser's face detector).

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "web");

/** Prints `name: message` on stderr and exits with `code`. */
export function failer(name) {
  return (message, code = 2) => {
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(code);
  };
}

/** TF.js with its wasm backend ready (or the cpu backend), console chatter moved off stdout. */
export async function loadTf(backend, fail) {
  // tfjs prints hints ("install tfjs-node ...") with console.log/warn: keep stdout for results only.
  console.log = (...values) => process.stderr.write(values.join(" ") + "\n");
  console.warn = console.log;
  console.info = console.log;
  const requireFromWeb = createRequire(path.join(WEB_ROOT, "package.json"));
  const missing = ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm"].filter((name) => {
    try {
      requireFromWeb.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    fail(`${missing.join(" and ")} not found in ${path.join(WEB_ROOT, "node_modules")}: run \`npm ci --prefix web\``, 3);
  }
  const tf = requireFromWeb("@tensorflow/tfjs");
  const wasm = requireFromWeb("@tensorflow/tfjs-backend-wasm");
  if (backend === "wasm") {
    // In Node, Emscripten reads the .wasm binary with fs: a directory path (with trailing separator) is the prefix.
    wasm.setWasmPaths(path.dirname(requireFromWeb.resolve("@tensorflow/tfjs-backend-wasm")) + path.sep);
  }
  if (!(await tf.setBackend(backend))) fail(`could not initialise the ${backend} backend`);
  await tf.ready();
  return tf;
}

/** An IOHandler that loads a graph model's JSON file and its weight shards from the local disk. */
export function fileHandler(modelJsonPath, fail) {
  const read = (file) => {
    try {
      return readFileSync(file);
    } catch (error) {
      fail(`cannot read ${file}: ${error.message}`);
    }
  };
  return {
    load: async () => {
      const modelDir = path.dirname(modelJsonPath);
      const modelJson = JSON.parse(read(modelJsonPath).toString("utf8"));
      const weightSpecs = [];
      const buffers = [];
      for (const group of modelJson.weightsManifest ?? []) {
        weightSpecs.push(...group.weights);
        for (const shard of group.paths) buffers.push(read(path.join(modelDir, shard)));
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: modelJson.modelTopology,
        weightSpecs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy,
        signature: modelJson.signature,
        userDefinedMetadata: modelJson.userDefinedMetadata,
        modelInitializer: modelJson.modelInitializer,
      };
    },
  };
}
