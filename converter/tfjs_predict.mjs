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

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { failer, fileHandler, loadTf } from "./tfjs_node.mjs";

const CHANNELS = 3;
const fail = failer("tfjs_predict");

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

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    fail(`cannot read ${file}: ${error.message}`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
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

  const tf = await loadTf(args.backend, fail);
  const model = await tf.loadGraphModel(fileHandler(path.join(args.modelDir, "model.json"), fail));
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
