// tfjs_reference.mjs: TensorFlow.js itself (@tensorflow/tfjs, its pure-JS CPU backend) runs
// a TF.js *layers* model on an image and dumps named layers' outputs: the goldens that
// Atelier's reader (src/tfjs) is tested against.
//
// usage: node tools/tfjs_reference.mjs MODEL_DIR OUT.safetensors [options]
//   MODEL_DIR         model.json and its weight shards (the standard TF.js layout)
//   --size H W        input size (default: the model's declared input size, else 64 x 64)
//   --seed S          variant of the synthetic input (default 1)
//   --layers a,b,c    layers to dump (default: every layer but the InputLayer)
//   --image FILE      the input from an 8-bit PNG (grey, RGB, palette; alpha dropped) or a
//                     binary PPM (P6), scaled to [0, 1]; its size wins over --size
// Setup once: (cd tools/tfjs-ref && npm ci)   (the pinned @tensorflow/tfjs)
//
// The default input is a deterministic smooth-plus-noise RGB picture in [0, 1] from the
// seed, fed as it is (NHWC, no extra scaling). At a size other than the declared one, the
// layers that cannot exist there (a Flatten or Reshape of a map whose size follows the
// input's, and everything after it: the classifier head) are left out, with their weights;
// asking for one of them is an error.
//
// OUT.safetensors (float32, little-endian): "input" (1, 3, H, W); "tfjs/<layer>" for each
// layer, (N, C, H, W) for 4-D outputs and as TF.js gives them otherwise ((N, F)); metadata
// "layers" (the comma list), "tfjs_version", "size" ("HxW"), "seed" or "image", "source".
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';
import zlib from 'zlib';
import { fileURLToPath } from 'url';

const USAGE = 'usage: node tools/tfjs_reference.mjs MODEL_DIR OUT.safetensors [--size H W] [--seed S] [--layers a,b] [--image F.png|F.ppm]';
function fail(msg) { process.stderr.write('tfjs_reference: ' + msg + '\n'); process.exit(1); }

const here = path.dirname(fileURLToPath(import.meta.url));
let tf;
try {
  tf = createRequire(path.join(here, 'tfjs-ref', 'package.json'))('@tensorflow/tfjs');
} catch (e) {
  fail(`cannot load @tensorflow/tfjs (${e.code || e.message}); install it: (cd tools/tfjs-ref && npm ci)`);
}
// the CPU backend's one-time "install tfjs-node" banner says nothing about the results
const warn = console.warn;
console.warn = (...a) => { if (!String(a[0]).includes('tfjs-node')) warn(...a); };

// ---- the command line
const args = process.argv.slice(2), pos = [], opt = { seed: 1 };
const int = (v, what, lo) => {
  if (!/^\d+$/.test(v || '') || +v < lo) fail(`${what} wants an integer >= ${lo}, not '${v ?? ''}'`);
  return +v;
};
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--size') { opt.h = int(args[++i], '--size', 1); opt.w = int(args[++i], '--size', 1); }
  else if (args[i] === '--seed') opt.seed = int(args[++i], '--seed', 0);
  else if (args[i] === '--layers') opt.layers = (args[++i] || '').split(',').filter(Boolean);
  else if (args[i] === '--image') opt.image = args[++i];
  else if (args[i] === '-h' || args[i] === '--help') { console.log(USAGE); process.exit(0); }
  else if (args[i].startsWith('--')) fail(`unknown option ${args[i]}\n${USAGE}`);
  else pos.push(args[i]);
}
if (pos.length !== 2) fail(USAGE);
if (opt.layers && !opt.layers.length) fail('--layers wants a comma list of layer names');
const [dir, out] = pos;

// ---- images
// 8-bit PNG, any colour type but with 16-bit or interlaced refused -> {w, h, rgb (Float32, [0, 1])}
function readPNG(file, b) {
  let off = 8, w = 0, h = 0, depth = 0, ctype = 0, interlace = 0, plte = null;
  const idat = [];
  while (off + 8 <= b.length) {
    const len = b.readUInt32BE(off), type = b.toString('latin1', off + 4, off + 8), data = b.subarray(off + 8, off + 8 + len);
    if (data.length !== len) fail(`${file}: truncated PNG chunk ${type}`);
    if (type === 'IHDR') { w = data.readUInt32BE(0); h = data.readUInt32BE(4); depth = data[8]; ctype = data[9]; interlace = data[12]; }
    else if (type === 'PLTE') plte = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const chans = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[ctype];
  if (!w || !h || w * h > 1 << 26) fail(`${file}: bad PNG size ${w}x${h}`);
  if (depth !== 8 || !chans || interlace) fail(`${file}: only 8-bit, non-interlaced PNGs are read (depth ${depth}, colour type ${ctype}, interlace ${interlace})`);
  if (ctype === 3 && !plte) fail(`${file}: palette PNG without a palette`);
  let raw;
  try { raw = zlib.inflateSync(Buffer.concat(idat)); } catch (e) { fail(`${file}: bad PNG data (${e.message})`); }
  const stride = w * chans;
  if (raw.length < h * (stride + 1)) fail(`${file}: PNG data too short`);
  const px = Buffer.alloc(h * stride);
  for (let y = 0; y < h; y++) {   // undo the row filters (PNG spec 9.2)
    const ft = raw[y * (stride + 1)], src = raw.subarray(y * (stride + 1) + 1), row = y * stride;
    for (let i = 0; i < stride; i++) {
      const left = i >= chans ? px[row + i - chans] : 0, up = y ? px[row - stride + i] : 0;
      const ul = y && i >= chans ? px[row - stride + i - chans] : 0;
      let pred = 0;
      if (ft === 1) pred = left;
      else if (ft === 2) pred = up;
      else if (ft === 3) pred = (left + up) >> 1;
      else if (ft === 4) {
        const pp = left + up - ul, pa = Math.abs(pp - left), pb = Math.abs(pp - up), pc = Math.abs(pp - ul);
        pred = pa <= pb && pa <= pc ? left : pb <= pc ? up : ul;
      } else if (ft !== 0) fail(`${file}: bad PNG filter ${ft}`);
      px[row + i] = (src[i] + pred) & 255;
    }
  }
  const rgb = new Float32Array(w * h * 3);
  for (let i = 0; i < w * h; i++)
    for (let c = 0; c < 3; c++) {
      const v = ctype === 3 ? plte[3 * px[i] + c] : ctype < 4 && ctype !== 2 ? px[i * chans] : ctype === 4 ? px[i * 2] : px[i * chans + c];
      rgb[i * 3 + c] = (v ?? 0) / 255;
    }
  return { w, h, rgb };
}
// binary PPM (P6, maxval 255, comments allowed)
function readPPM(file, b) {
  const tok = [];
  let i = 0;
  while (tok.length < 4 && i < b.length) {
    if (b[i] === 35) { while (i < b.length && b[i] !== 10) i++; continue; }   // '#' comment
    if (b[i] <= 32) { i++; continue; }
    let j = i;
    while (j < b.length && b[j] > 32) j++;
    tok.push(b.toString('latin1', i, j));
    i = j;
  }
  const w = +tok[1], h = +tok[2];
  if (tok[0] !== 'P6' || tok[3] !== '255' || !(w > 0 && h > 0)) fail(`${file}: not a binary PPM (P6, maxval 255)`);
  const data = b.subarray(i + 1, i + 1 + w * h * 3);
  if (data.length !== w * h * 3) fail(`${file}: truncated PPM`);
  return { w, h, rgb: Float32Array.from(data, (v) => v / 255) };
}
function readImage(file) {
  let b;
  try { b = fs.readFileSync(file); } catch (e) { fail(`${file}: ${e.code || e.message}`); }
  if (b.length > 8 && b.readUInt32BE(0) === 0x89504e47) return readPNG(file, b);
  if (b.toString('latin1', 0, 2) === 'P6') return readPPM(file, b);
  fail(`${file}: not a PNG or a binary PPM`);
}
// smooth stripes plus xorshift32 noise, in [0, 1], (h, w, 3)
function synthetic(h, w, seed) {
  let s = seed >>> 0 || 1;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  const px = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        const smooth = 0.5 + 0.3 * Math.sin(0.21 * x * (c + 1) + 0.13 * y) * Math.cos(0.17 * y - 0.05 * x * c);
        px[(y * w + x) * 3 + c] = Math.min(1, Math.max(0, smooth + 0.15 * (rand() - 0.5)));
      }
  return px;
}

// ---- the model from disk: model.json and its shards, concatenated per group in order
let json;
try { json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')); } catch (e) { fail(`${dir}/model.json: ${e.code || e.message}`); }
const topo = json.modelTopology;
if (!topo || typeof topo !== 'object') fail(`${dir}/model.json: no modelTopology`);
if (topo.node) fail(`${dir}/model.json: a TF.js graph model; this tool runs layers models (Keras)`);
if (!Array.isArray(json.weightsManifest)) fail(`${dir}/model.json: no weightsManifest`);
const cfg = (topo.model_config || topo).config;
if (!cfg || !Array.isArray(cfg.layers)) fail(`${dir}/model.json: no Keras model config with a layers list`);
let specs = [], bufs = [];
for (const g of json.weightsManifest) {
  specs.push(...g.weights);
  for (const p of g.paths) {
    if (path.basename(p) !== p) fail(`${dir}/model.json: shard path '${p}' is not a plain file name`);
    try { bufs.push(fs.readFileSync(path.join(dir, p))); } catch (e) { fail(`${dir}/${p}: ${e.code || e.message}`); }
  }
}

// the input size
let img = null;
if (opt.image) {
  img = readImage(opt.image);
  if (opt.h && (opt.h !== img.h || opt.w !== img.w)) fail(`--size ${opt.h} ${opt.w} but ${opt.image} is ${img.h}x${img.w}`);
  opt.h = img.h; opt.w = img.w;
}
const inputLayer = cfg.layers.find((l) => l.class_name === 'InputLayer');
const declared = (inputLayer && inputLayer.config.batch_input_shape) || [null, null, null, 3];
const h = opt.h || declared[1] || 64, w = opt.w || declared[2] || 64, chans = declared[3] || 3;
if (chans !== 3) fail(`the model takes ${chans} channels; this tool makes RGB inputs`);

// TF.js checks inputs against the declared shape: declare the size asked for, and leave out
// what only exists at the declared size
const gone = new Set();
if (inputLayer && (h !== declared[1] || w !== declared[2])) {
  inputLayer.config.batch_input_shape = [null, h, w, chans];
  if (cfg.layers.some((l) => !Array.isArray(l.inbound_nodes)))
    fail('resizing a Sequential model is not supported: give --size of its declared input');
  const byName = new Map(cfg.layers.map((l) => [l.name, l]));
  const inputsOf = (l) => (l.inbound_nodes[0] || []).map((e) => e[0]);
  const sizeFree = new Map();   // does the layer's output shape not follow the input size?
  const free = (n) => {
    if (!sizeFree.has(n)) {
      const l = byName.get(n);
      if (!l) fail(`${dir}/model.json: a layer takes input from '${n}', which is not a layer`);
      sizeFree.set(n, false);   // (a cycle counts as bound)
      sizeFree.set(n, l.class_name !== 'InputLayer' &&
        (/^Global(Average|Max)Pooling2D$/.test(l.class_name) || inputsOf(l).every(free)));
    }
    return sizeFree.get(n);
  };
  for (const l of cfg.layers)
    if ((l.class_name === 'Flatten' || l.class_name === 'Reshape') && !inputsOf(l).every(free)) gone.add(l.name);
  for (let grew = true; grew;) {
    grew = false;
    for (const l of cfg.layers)
      if (!gone.has(l.name) && inputsOf(l).some((s) => gone.has(s))) { gone.add(l.name); grew = true; }
  }
  if (gone.size) {
    cfg.layers = cfg.layers.filter((l) => !gone.has(l.name));
    const used = new Set(cfg.layers.flatMap(inputsOf));
    cfg.output_layers = cfg.layers.filter((l) => !used.has(l.name)).map((l) => [l.name, 0, 0]);
    const bytes = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };
    const whole = Buffer.concat(bufs), keep = [], parts = [];
    let off = 0;
    for (const s of specs) {
      const n = s.shape.reduce((a, b) => a * b, 1) * bytes[s.quantization ? s.quantization.dtype : s.dtype];
      if (!(n >= 0)) fail(`${dir}/model.json: weight ${s.name}: unknown dtype`);
      if (![...gone].some((g) => s.name.startsWith(g + '/'))) { keep.push(s); parts.push(whole.subarray(off, off + n)); }
      off += n;
    }
    specs = keep;
    bufs = parts;
  }
}
for (const n of opt.layers || []) {
  if (gone.has(n)) fail(`layer ${n} exists only at the declared input size ${declared[1]}x${declared[2]} (it follows a Flatten or Reshape of a map): leave it out or use --size ${declared[1]} ${declared[2]}`);
  if (!cfg.layers.some((l) => l.name === n)) fail(`${dir}: no layer named '${n}'`);
}

const all = Buffer.concat(bufs);
const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
let model, outs;
try {
  model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topo, weightSpecs: specs, weightData }));
} catch (e) { fail(`${dir}: TF.js cannot load the model: ${e.message.split('\n')[0]}`); }
// default: every layer in TF.js's (topological) order
const wanted = opt.layers || model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name);

const pixels = img ? img.rgb : synthetic(h, w, opt.seed);
const input = tf.tensor4d(pixels, [1, h, w, 3]);
try {
  const probe = tf.model({ inputs: model.inputs, outputs: wanted.map((n) => model.getLayer(n).output) });
  outs = probe.predict(input);
  if (!Array.isArray(outs)) outs = [outs];
} catch (e) { fail(`${dir} at ${h}x${w}: ${e.message.split('\n')[0]}`); }

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

// ---- the safetensors file: u64 header length, JSON header (padded to 8), the data
const tensors = [['input', nchw(input)], ...wanted.map((n, i) => ['tfjs/' + n, nchw(outs[i])])];
for (const [name, t] of tensors)
  if (t.shape.some((d) => !(d > 0))) fail(`layer ${name.slice(5)} has an empty output ${JSON.stringify(t.shape)} at ${h}x${w}`);
const meta = { layers: wanted.join(','), tfjs_version: tf.version.tfjs, size: `${h}x${w}`, source: 'tools/tfjs_reference.mjs' };
if (img) meta.image = path.basename(opt.image); else meta.seed = String(opt.seed);
const header = { __metadata__: meta };
let off = 0;
for (const [name, t] of tensors) {
  header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + 4 * t.data.length] };
  off += 4 * t.data.length;
}
let hjson = JSON.stringify(header);
while (Buffer.byteLength(hjson) % 8) hjson += ' ';
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(Buffer.byteLength(hjson)));
const body = Buffer.concat(tensors.map(([, t]) => Buffer.from(Float32Array.from(t.data).buffer)));
const tmp = out + '.tmp-' + process.pid;
try {
  fs.writeFileSync(tmp, Buffer.concat([len, Buffer.from(hjson), body]));
  fs.renameSync(tmp, out);
} catch (e) {
  fs.rmSync(tmp, { force: true });
  fail(`${out}: ${e.code || e.message}`);
}
console.log(`${out}: ${wanted.length} layers at ${h}x${w}, tfjs ${tf.version.tfjs}${gone.size ? `, ${gone.size} size-bound layers left out` : ''}`);
