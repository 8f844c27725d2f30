#!/usr/bin/env node
// Character accuracy of PaddleOCR recognizer variants, judged by ONNX Runtime (not aifgen's
// engine): greedy CTC decoding of each model's [N, T, C] output against the true text.
//
// usage: node bench/ocr_accuracy.js --ort-dir DIR --x X.npy --labels LABELS.txt --keys KEYS.txt
//             [--from I] [--to J] NAME=MODEL.onnx [NAME=MODEL.onnx ...]
// The first model is the reference (fp32); every other one is reported with its drop against it.
// --classes: the models are classifiers ([N, C] scores, e.g. the PaddleOCR text-orientation
// model) and LABELS.txt holds one class index per line; accuracy is top-1 (no --keys).
// --ort-dir is a folder where `npm ci` installed onnxruntime-node (see shared/tools/ort-bench).
// A NAME=SCORES.npy entry judges scores computed elsewhere ([N, T, C] or [N, C] float32 for all N
// rows of --x, e.g. `aifgen run` under DNNL_MAX_CPU_ISA=AVX2) instead of running a model.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const { readNpy } = require('./npy');

function parseArgs(argv) {
  const a = { models: [], from: 0, to: Infinity, classes: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--ort-dir') a.ortDir = argv[++i];
    else if (k === '--x') a.x = argv[++i];
    else if (k === '--labels') a.labels = argv[++i];
    else if (k === '--keys') a.keys = argv[++i];
    else if (k === '--from') a.from = +argv[++i];
    else if (k === '--to') a.to = +argv[++i];
    else if (k === '--classes') a.classes = true;
    else if (k.includes('=')) { const e = k.indexOf('='); a.models.push([k.slice(0, e), k.slice(e + 1)]); }
    else throw new Error('unknown argument ' + k);
  }
  if (!a.ortDir || !a.x || !a.labels || (!a.keys && !a.classes) || a.models.length === 0) {
    console.error('usage: ocr_accuracy.js --ort-dir DIR --x X.npy --labels L.txt (--keys K.txt | --classes) [--from I] [--to J] NAME=MODEL.onnx ...');
    process.exit(2);
  }
  return a;
}


function editDistance(a, b) {
  const prev = new Array(b.length + 1).fill(0).map((_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

// PaddleOCR's CTC label decoding: class 0 is the blank, 1..K the dictionary, K+1 the space.
function decode(scores, t, c, dict) {
  let out = '', last = -1;
  for (let s = 0; s < t; s++) {
    let best = 0, bestV = -Infinity;
    for (let k = 0; k < c; k++) { const v = scores[s * c + k]; if (v > bestV) { bestV = v; best = k; } }
    if (best !== last && best !== 0) out += dict[best] ?? '';
    last = best;
  }
  return out;
}

(async () => {
  const a = parseArgs(process.argv.slice(2));
  const ort = createRequire(path.resolve(a.ortDir) + '/')('onnxruntime-node');
  const x = readNpy(a.x);
  const labels = fs.readFileSync(a.labels, 'utf8').split('\n').filter((l, i, all) => i < all.length - 1 || l.length);
  const keys = a.classes ? [] : fs.readFileSync(a.keys, 'utf8').split('\n').filter(l => l.length);
  const dict = ['', ...keys, ' '];
  // A classifier's answer as text (its top-1 class), so the same accounting serves both.
  const top1 = (scores, c) => { let best = 0; for (let k = 1; k < c; k++) if (scores[k] > scores[best]) best = k; return String(best); };
  const per = x.shape.slice(1).reduce((p, d) => p * d, 1);
  const to = Math.min(a.to, x.shape[0]);
  const rows = [];
  let reference = null;
  for (const [name, file] of a.models) {
    const given = file.endsWith('.npy') ? readNpy(file) : null;
    if (given && given.shape[0] !== x.shape[0]) throw new Error(file + ': ' + given.shape[0] + ' rows, --x has ' + x.shape[0]);
    const sess = given ? null : await ort.InferenceSession.create(file, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
    let edits = 0, chars = 0, lines = 0, exact = 0;
    const texts = [];
    for (let i = a.from; i < to; i++) {
      let out;
      if (given) {
        const row = given.shape.slice(1).reduce((p, d) => p * d, 1);
        out = { data: given.data.subarray(i * row, (i + 1) * row), dims: [1, ...given.shape.slice(1)] };
      } else {
        const feed = new ort.Tensor('float32', x.data.slice(i * per, (i + 1) * per), [1, ...x.shape.slice(1)]);
        out = (await sess.run({ [sess.inputNames[0]]: feed }))[sess.outputNames[0]];
      }
      const text = a.classes ? top1(out.data, out.dims[out.dims.length - 1]) : decode(out.data, out.dims[1], out.dims[2], dict);
      texts.push(text);
      edits += a.classes ? (text === labels[i].trim() ? 0 : 1) : editDistance(text, labels[i]);
      chars += a.classes ? 1 : labels[i].length;
      lines += 1;
      exact += text === (a.classes ? labels[i].trim() : labels[i]) ? 1 : 0;
    }
    const acc = 100 * (1 - edits / Math.max(1, chars));
    let agree = null;
    if (reference) agree = texts.filter((t, i) => t === reference.texts[i]).length / texts.length * 100;
    const row = { name, char_accuracy: acc, line_accuracy: 100 * exact / lines, lines,
                  drop_points: reference ? reference.char_accuracy - acc : 0, same_text_as_reference: agree };
    rows.push(row);
    if (!reference) reference = { char_accuracy: acc, texts };
  }
  console.log('model'.padEnd(34) + 'lines  char acc %  line acc %  drop (points)  same text as ref %');
  for (const r of rows)
    console.log(r.name.padEnd(34) + String(r.lines).padStart(5) + r.char_accuracy.toFixed(2).padStart(11) + r.line_accuracy.toFixed(2).padStart(12) +
                r.drop_points.toFixed(2).padStart(15) + (r.same_text_as_reference === null ? '' : r.same_text_as_reference.toFixed(1).padStart(19)));
  if (process.env.OCR_ACCURACY_JSON) fs.writeFileSync(process.env.OCR_ACCURACY_JSON, JSON.stringify(rows, null, 1));
})().catch(e => { console.error('ocr_accuracy: ' + e.message); process.exit(1); });
