// tfjs_reference.mjs: TensorFlow.js itself (@tensorflow/tfjs, pure-JS CPU backend) runs a
// TF.js layers model on an input and dumps named layers' outputs: the goldens that
// Atelier's reader (src/tfjs) is tested against.
//
// usage: node tools/tfjs_reference.mjs MODEL_DIR OUT.safetensors [--size H W] [--seed S]
//                                      [--layers a,b,c] [--image FILE.ppm]
//   (cd tools/tfjs-ref && npm ci) first: it installs the pinned @tensorflow/tfjs.
// The input is a deterministic smooth-plus-noise RGB picture in [0, 1] from the seed (or a
// binary PPM), fed to the model as it is (NHWC, no extra scaling). The output holds
// "input" (1, 3, H, W) and "tfjs/<layer>" for each layer (default: every layer), NCHW for
// spatial outputs, (N, F) for flat ones, float32, with metadata "layers" and "tfjs_version".
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'tfjs-ref', 'package.json'));
const tf = require('@tensorflow/tfjs');

function fail(msg) { process.stderr.write('tfjs_reference: ' + msg + '\n'); process.exit(1); }

// a binary PPM (P6, maxval 255, comments allowed) -> {w, h, data (h * w * 3 bytes)}
function readPPM(file) {
  const b = fs.readFileSync(file);
  const tok = [];
  let i = 0;
  while (tok.length < 4 && i < b.length) {
    if (b[i] === 35) { while (i < b.length && b[i] !== 10) i++; continue; }          // '#' comment
    if (b[i] <= 32) { i++; continue; }
    let j = i;
    while (j < b.length && b[j] > 32) j++;
    tok.push(b.toString('latin1', i, j));
    i = j;
  }
  if (tok[0] !== 'P6' || tok[3] !== '255') fail(file + ': not a binary PPM (P6, 255)');
  const w = +tok[1], h = +tok[2];
  return { w, h, data: b.subarray(i + 1, i + 1 + w * h * 3) };
}

const args = process.argv.slice(2);
const pos = [], opt = {};
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--size') { opt.h = +args[++i]; opt.w = +args[++i]; }
  else if (args[i] === '--seed') opt.seed = +args[++i];
  else if (args[i] === '--layers') opt.layers = args[++i].split(',');
  else if (args[i] === '--image') opt.image = args[++i];
  else pos.push(args[i]);
}
if (pos.length !== 2) fail('usage: node tools/tfjs_reference.mjs MODEL_DIR OUT.safetensors [--size H W] [--seed S] [--layers a,b] [--image F.ppm]');
const [dir, out] = pos;

// the model from disk: model.json + its shards
const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
const specs = [], bufs = [];
for (const g of json.weightsManifest) {
  specs.push(...g.weights);
  for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
}
// TF.js checks inputs against the declared shape: declare the size asked for (the network is
// convolutional up to its pooling, so its features are defined at any size it can take)
if (opt.image) { const p = readPPM(opt.image); opt.w = p.w; opt.h = p.h; }
const cfg0 = (json.modelTopology.model_config || json.modelTopology).config;
const declared = cfg0.layers.find((l) => l.class_name === 'InputLayer').config.batch_input_shape;
if (opt.h && (opt.h !== declared[1] || opt.w !== declared[2])) {
  const cfg = cfg0;
  for (const l of cfg.layers)
    if (l.class_name === 'InputLayer') l.config.batch_input_shape = [null, opt.h, opt.w, l.config.batch_input_shape[3]];
  // a classifier head sized for the declared input (Flatten -> Dense) cannot be built at
  // another size: drop the head and whatever depends on it, with its weights
  const gone = new Set();
  for (const l of cfg.layers) {
    const srcs = (l.inbound_nodes[0] || []).map((e) => e[0]);
    if (['Flatten', 'Dense', 'Reshape'].includes(l.class_name) || srcs.some((s) => gone.has(s))) gone.add(l.name);
  }
  if (gone.size) {
    cfg.layers = cfg.layers.filter((l) => !gone.has(l.name));
    cfg.output_layers = [[cfg.layers[cfg.layers.length - 1].name, 0, 0]];
    const bytes = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };
    const keep = [], parts = [];
    let off = 0;
    const whole = Buffer.concat(bufs);
    for (const s of specs) {
      const n = s.shape.reduce((a, b) => a * b, 1) * bytes[s.quantization ? s.quantization.dtype : s.dtype];
      if (!gone.has(s.name.split('/')[0])) { keep.push(s); parts.push(whole.subarray(off, off + n)); }
      off += n;
    }
    specs.length = 0; specs.push(...keep);
    bufs.length = 0; bufs.push(...parts);
  }
}
const all = Buffer.concat(bufs);
const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }));

// the input, NHWC
let h = opt.h, w = opt.w, pixels;
if (opt.image) {
  const p = readPPM(opt.image);
  w = p.w; h = p.h;
  pixels = Float32Array.from(p.data, (v) => v / 255);
} else {
  const shape = model.inputs[0].shape;
  h = h || shape[1] || 64; w = w || shape[2] || 64;
  let s = (opt.seed ?? 1) >>> 0 || 1;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  pixels = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        const smooth = 0.5 + 0.3 * Math.sin(0.21 * x * (c + 1) + 0.13 * y) * Math.cos(0.17 * y - 0.05 * x * c);
        pixels[(y * w + x) * 3 + c] = Math.min(1, Math.max(0, smooth + 0.15 * (rand() - 0.5)));
      }
}
const input = tf.tensor4d(pixels, [1, h, w, 3]);

const names = opt.layers || model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name);
const probe = tf.model({ inputs: model.inputs, outputs: names.map((n) => model.getLayer(n).output) });
let outs = probe.predict(input);
if (!Array.isArray(outs)) outs = [outs];

// NHWC -> NCHW
function nchw(t) {
  if (t.shape.length !== 4) return { shape: t.shape, data: t.dataSync() };
  const [n, hh, ww, c] = t.shape, src = t.dataSync(), dst = new Float32Array(src.length);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < hh; y++)
      for (let x = 0; x < ww; x++)
        for (let k = 0; k < c; k++) dst[((i * c + k) * hh + y) * ww + x] = src[((i * hh + y) * ww + x) * c + k];
  return { shape: [n, c, hh, ww], data: dst };
}

const tensors = [['input', nchw(input)], ...names.map((n, i) => ['tfjs/' + n, nchw(outs[i])])];
const header = { __metadata__: { layers: names.join(','), tfjs_version: tf.version.tfjs, source: 'tools/tfjs_reference.mjs' } };
let off = 0;
for (const [name, t] of tensors) {
  header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + 4 * t.data.length] };
  off += 4 * t.data.length;
}
let hjson = JSON.stringify(header);
while (hjson.length % 8) hjson += ' ';
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(hjson.length));
const body = Buffer.concat(tensors.map(([, t]) => Buffer.from(Float32Array.from(t.data).buffer)));
const tmp = out + '.tmp-' + process.pid;
fs.writeFileSync(tmp, Buffer.concat([len, Buffer.from(hjson), body]));
fs.renameSync(tmp, out);
console.log(`${out}: ${names.length} layers at ${h}x${w}, tfjs ${tf.version.tfjs}`);
