#!/usr/bin/env node
// Runs a model with ONNX Runtime (not aifgen's engine) on every row of a float32 .npy, one row
// at a time, and writes the first output of each, stacked, as a float32 .npy: what a judge
// outside this script scores (bench/det_accuracy.py).
//
// usage: node bench/ort_outputs.js --ort-dir DIR --x X.npy --out OUT.npy [--whole-rows] MODEL.onnx
// Each row is fed as a batch of one ([1, ...row]); with --whole-rows as the whole input (row).
// --ort-dir is a folder where `npm ci` installed onnxruntime-node (see shared/tools/ort-bench).
'use strict';
const path = require('path');
const { createRequire } = require('module');
const { readNpy, writeNpy } = require('./npy');

function parseArgs(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--ort-dir') a.ortDir = argv[++i];
    else if (k === '--x') a.x = argv[++i];
    else if (k === '--out') a.out = argv[++i];
    else if (k === '--whole-rows') a.wholeRows = true;
    else a.model = k;
  }
  if (!a.ortDir || !a.x || !a.out || !a.model) {
    console.error('usage: ort_outputs.js --ort-dir DIR --x X.npy --out OUT.npy MODEL.onnx');
    process.exit(2);
  }
  return a;
}



(async () => {
  const a = parseArgs(process.argv.slice(2));
  const ort = createRequire(path.resolve(a.ortDir) + '/')('onnxruntime-node');
  const x = readNpy(a.x);
  const per = x.shape.slice(1).reduce((p, d) => p * d, 1);
  const sess = await ort.InferenceSession.create(a.model, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
  const chunks = [];
  let dims = null;
  for (let i = 0; i < x.shape[0]; i++) {
    const feed = new ort.Tensor('float32', x.data.slice(i * per, (i + 1) * per), a.wholeRows ? x.shape.slice(1) : [1, ...x.shape.slice(1)]);
    const out = (await sess.run({ [sess.inputNames[0]]: feed }))[sess.outputNames[0]];
    if (out.type !== 'float32') throw new Error('first output is ' + out.type + ', want float32');
    dims = a.wholeRows ? [1, ...out.dims] : out.dims;
    chunks.push(Float32Array.from(out.data));
  }
  writeNpy(a.out, [x.shape[0], ...dims.slice(1)], chunks);
})().catch(e => { console.error('ort_outputs: ' + e.message); process.exit(1); });
