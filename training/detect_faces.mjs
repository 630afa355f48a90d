#!/usr/bin/env node
// The browser's face detector (web/js/faces.js with the same BlazeFace files, TF.js wasm backend) in Node, so
// that training crops are exactly the browser's crops. Serves training/faces.py over stdin/stdout:
//
//   in:  per picture, 8 bytes (width, height as little-endian uint32) then width*height*3 RGB bytes
//   out: per picture, one JSON line {"faces": [{"box": {...}, "score": s, "crop": {left, top, side}}, ...]}

import path from "node:path";
import { failer, fileHandler, loadTf, WEB_ROOT } from "../converter/tfjs_node.mjs";

const fail = failer("detect_faces");
const HEADER_BYTES = 8;
const DETECTOR_JSON = path.join(WEB_ROOT, "node_modules", "@vladmandic", "human", "models", "blazeface.json");

const { findFaces, detectorOutputs } = await import(path.join(WEB_ROOT, "js", "faces.js"));
const { rgbSource } = await import(path.join(WEB_ROOT, "js", "preprocess.js"));

/** Yields each picture from stdin as {width, height, rgb}. */
async function* pictures(stream) {
  let pending = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= HEADER_BYTES) {
      const width = pending.readUInt32LE(0);
      const height = pending.readUInt32LE(4);
      const end = HEADER_BYTES + width * height * 3;
      if (pending.length < end) break;
      yield { width, height, rgb: new Uint8Array(pending.subarray(HEADER_BYTES, end)) };
      pending = pending.subarray(end);
    }
  }
  if (pending.length) fail(`stdin ended inside a picture (${pending.length} bytes left)`);
}

const tf = await loadTf("wasm", fail);
const model = await tf.loadGraphModel(fileHandler(DETECTOR_JSON, fail));
for await (const picture of pictures(process.stdin)) {
  const faces = await findFaces(rgbSource(picture.rgb, picture.width, picture.height), (input) =>
    detectorOutputs(tf, model, input),
  );
  process.stdout.write(JSON.stringify({ faces }) + "\n");
}
