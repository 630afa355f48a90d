#!/usr/bin/env node
// Run the exported TensorFlow.js graph model in Node, exactly as the browser runs it.
//
//   node converter/tfjs_predict.mjs MODEL_DIR INPUT.f32 N [--backend wasm|cpu] [--batch B]
//
// INPUT.f32 holds N images of SIZExSIZEx3 float32 (raw little-endian, NHWC, values in [0, 1]; SIZE is the
// input size in MODEL_DIR/metadata.json), i.e. the output of training/preprocessing.py `preprocess()`.
// Prints one JSON object on stdout:
//   {"backend": "wasm", "probability": [p0, ...], "evidence": [[one value per region], ...]}
// ("evidence" only when the model has that output). Node names come from MODEL_DIR/metadata.json.
//
// The libraries are resolved from the repository's web/node_modules (the very files the server ships), so the
// script works from any working directory. Install them with `npm ci --prefix web`.

import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB_ROOT = path.resolve(HERE, "..", "web");
const CHANNELS = 3;

function fail(message, code = 2) {
  process.stderr.write(`tfjs_predict: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const positional = [];
  const options = { backend: "wasm", batch: 8 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--backend" || arg === "--batch") {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      options[arg.slice(2)] = argv[++i];
    } else if (arg.startsWith("--backend=") || arg.startsWith("--batch=")) {
      const [key, value] = arg.slice(2).split("=", 2);
      options[key] = value;
    } else if (arg === "-h" || arg === "--help") {
      process.stdout.write("usage: node converter/tfjs_predict.mjs MODEL_DIR INPUT.f32 N [--backend wasm|cpu] [--batch B]\n");
      process.exit(0);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 3) {
    fail("usage: node converter/tfjs_predict.mjs MODEL_DIR INPUT.f32 N [--backend wasm|cpu] [--batch B]");
  }
  const [modelDir, inputFile, countText] = positional;
  const count = Number(countText);
  if (!Number.isInteger(count) || count < 1) fail(`N must be a positive integer, got ${countText}`);
  if (!["wasm", "cpu"].includes(options.backend)) fail(`--backend must be wasm or cpu, got ${options.backend}`);
  const batch = Number(options.batch);
  if (!Number.isInteger(batch) || batch < 1) fail(`--batch must be a positive integer, got ${options.batch}`);
  return { modelDir: path.resolve(modelDir), inputFile: path.resolve(inputFile), count, backend: options.backend, batch };
}

function loadLibraries() {
  const requireFromWeb = createRequire(path.join(WEB_ROOT, "package.json"));
  const missing = [];
  for (const name of ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm"]) {
    try {
      requireFromWeb.resolve(name);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length) {
    fail(`${missing.join(" and ")} not found in ${path.join(WEB_ROOT, "node_modules")}: run \`npm ci --prefix web\``, 3);
  }
  const tf = requireFromWeb("@tensorflow/tfjs");
  const wasm = requireFromWeb("@tensorflow/tfjs-backend-wasm");
  const wasmDist = path.dirname(requireFromWeb.resolve("@tensorflow/tfjs-backend-wasm"));
  return { tf, wasm, wasmDist };
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    fail(`cannot read ${file}: ${error.message}`);
  }
}

/** An IOHandler that loads model.json and its weight shards from the local disk. */
function fileHandler(modelDir) {
  return {
    load: async () => {
      const modelJson = readJson(path.join(modelDir, "model.json"));
      const weightSpecs = [];
      const buffers = [];
      for (const group of modelJson.weightsManifest ?? []) {
        weightSpecs.push(...group.weights);
        for (const shard of group.paths) buffers.push(readFileSync(path.join(modelDir, shard)));
      }
      const all = Buffer.concat(buffers);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return {
        modelTopology: modelJson.modelTopology,
        weightSpecs,
        weightData,
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

async function main() {
  const args = parseArgs(process.argv.slice(2));
  // tfjs prints hints ("install tfjs-node ...") with console.log/warn: keep stdout for the JSON result only.
  console.log = (...values) => process.stderr.write(values.join(" ") + "\n");
  console.warn = console.log;
  console.info = console.log;

  for (const file of ["model.json", "metadata.json"]) {
    if (!existsSync(path.join(args.modelDir, file))) fail(`${path.join(args.modelDir, file)} not found`);
  }
  const metadata = readJson(path.join(args.modelDir, "metadata.json"));
  const inputName = metadata.input?.name;
  const outputs = Object.entries(metadata.outputs ?? {}).map(([key, spec]) => [key, spec.node]);
  if (!inputName || !outputs.some(([key]) => key === "probability")) {
    fail("metadata.json lacks input.name or outputs.probability.node");
  }

  const raw = readFileSync(args.inputFile);
  const size = metadata.input?.shape?.[1];
  if (!Number.isInteger(size)) fail("metadata.json lacks input.shape [1, SIZE, SIZE, 3]");
  const valuesPerImage = size * size * CHANNELS;
  const expected = args.count * valuesPerImage * 4;
  if (raw.byteLength !== expected) {
    fail(`${args.inputFile} holds ${raw.byteLength} bytes, expected ${expected} for ${args.count} images of ${size}x${size}x${CHANNELS} float32`);
  }
  // Little-endian float32, copied into an aligned buffer.
  const pixels = new Float32Array(args.count * valuesPerImage);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < pixels.length; i++) pixels[i] = view.getFloat32(i * 4, true);

  const { tf, wasm, wasmDist } = loadLibraries();
  if (args.backend === "wasm") {
    // In Node, Emscripten reads the .wasm binary with fs: a directory path (with trailing separator) is the prefix.
    wasm.setWasmPaths(wasmDist + path.sep);
  }
  if (!(await tf.setBackend(args.backend))) fail(`could not initialise the ${args.backend} backend`);
  await tf.ready();

  const model = await tf.loadGraphModel(fileHandler(args.modelDir));
  const result = { backend: tf.getBackend() };
  for (const [key] of outputs) result[key] = [];
  const nodes = outputs.map(([, node]) => node);

  for (let start = 0; start < args.count; start += args.batch) {
    const n = Math.min(args.batch, args.count - start);
    const batch = pixels.subarray(start * valuesPerImage, (start + n) * valuesPerImage);
    const input = tf.tensor4d(batch, [n, size, size, CHANNELS], "float32");
    let produced = model.execute({ [inputName]: input }, nodes);
    if (!Array.isArray(produced)) produced = [produced];
    for (let k = 0; k < outputs.length; k++) {
      const [key] = outputs[k];
      const values = Array.from(await produced[k].data());
      const per = values.length / n;
      for (let j = 0; j < n; j++) {
        const row = values.slice(j * per, (j + 1) * per);
        result[key].push(key === "probability" && per === 1 ? row[0] : row);
      }
    }
    tf.dispose([input, ...produced]);
  }
  model.dispose();
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((error) => fail(error?.stack ?? String(error), 1));
