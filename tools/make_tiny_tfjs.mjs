// make_tiny_tfjs.mjs: writes tests/fixtures/tfjs_tiny, a small TF.js *layers* model in the
// format of nsfwjs's networks (Keras 2.2.4 functional config, uint8-quantised weights) that
// uses every layer type Atelier's reader (src/tfjs) supports, with the awkward cases:
//   - 'same' convolutions and pools where TF pads more at the bottom/right (stride 2 on an
//     even size, 2x2 kernels at stride 1), and 'same' ones where it pads evenly; input
//     declared 19 x 23 x 3, but every layer before the Flatten works at any size >= 9 x 9
//     (tools/tfjs_reference.mjs --size leaves the head out);
//   - 'valid'; kernels 3x3, 1x1, 2x2, 3x1 (dilated 2 along H) and 2x3 (stride 2);
//   - Conv2D with and without bias; DepthwiseConv2D with depth_multiplier 2 and 1, 'same'
//     at strides 1 and 2, 'valid' at stride 2 after a ZeroPadding2D;
//   - BatchNormalization with center and scale, without scale, without center, and on a
//     flat (N, F) tensor (epsilon 0.001, positive moving variances);
//   - Activation relu, sigmoid, tanh, softmax over the channels of an image; relu6, relu,
//     sigmoid and softmax as a Conv2D's or Dense's activation; the ReLU layer with
//     max_value 6 and with max_value null (not negative_slope: TF.js ignores it);
//   - Add (two inputs); Concatenate over channels (three branches; two flat ones) and
//     along W (axis 2);
//   - MaxPooling2D 3x3/2 'valid', 2x2/2 'same', 2x2 with strides null; AveragePooling2D
//     3x3/1 'same' (TF averages the in-image pixels only), 2x2/1 'same' (uneven padding),
//     2x2/1 'valid';
//   - ZeroPadding2D ((0, 1), (0, 1)) (MobileNetV2's) and a symmetric ((1, 1), (1, 1));
//   - GlobalAveragePooling2D, Reshape (N, F) -> (1, 1, F) and (1, 1, F) -> (F), Flatten of a
//     2x2 map (Keras flattens channels-last: h, w, c) into Dense relu; Dropout; the output
//     a Dense 5-way softmax.
// Weights: random from a fixed seed, per-tensor affine uint8 quantisation in the manifest
// (value = min + scale * q, min nudged so 0 is exact when the range spans it, as
// tfjs-converter does), listed by name (as the real models: not in layer order), except
// one float32 tensor (bn_a/gamma), one uint16 (dense_1/kernel) and one float16 (conv_h/kernel).
//
// usage: node tools/make_tiny_tfjs.mjs [OUT_DIR]     (default tests/fixtures/tfjs_tiny)
// Then the goldens, from the repository root (tools/tfjs-ref: npm ci first):
//   node tools/tfjs_reference.mjs tests/fixtures/tfjs_tiny \
//        tests/fixtures/tfjs_tiny/golden_tfjs.safetensors --size 19 23 --seed 1
//   $(tools/find_torch_python.sh) tools/tfjs_torch.py tests/fixtures/tfjs_tiny \
//        tests/fixtures/tfjs_tiny/golden_torch.safetensors --double \
//        --input tests/fixtures/tfjs_tiny/golden_tfjs.safetensors --grad-layers relu_a,conv_e,ap_1,softmax_h,concat_2
import fs from 'fs';
import path from 'path';

const out = process.argv[2] || 'tests/fixtures/tfjs_tiny';
if (process.argv.length > 3 || out.startsWith('-')) {
  process.stderr.write('usage: node tools/make_tiny_tfjs.mjs [OUT_DIR]   (default tests/fixtures/tfjs_tiny)\n');
  process.exit(2);
}

// ---- a seeded generator (splitmix32) and normal deviates (Box-Muller)
let state = 20261205 >>> 0;
function uniform() {
  state = (state + 0x9e3779b9) >>> 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
}
function normal(mean, sd) {
  const u = 1 - uniform(), v = uniform();
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
const fill = (n, f) => Float32Array.from({ length: n }, f);
const size = (shape) => shape.reduce((a, b) => a * b, 1);

// ---- the Keras config
const layers = [], weights = [];   // weights: {name, shape, data (Float32Array), store}

function layer(name, cls, config, inputs) {
  layers.push({
    name, class_name: cls, config: { name, trainable: true, ...config },
    inbound_nodes: inputs.length ? [inputs.map((i) => [i, 0, 0, {}])] : [],
  });
  return name;
}
function weight(name, shape, gen, store = 'uint8') {
  weights.push({ name, shape, data: fill(size(shape), gen), store });
}
function conv(name, src, cin, filters, k, { strides = [1, 1], padding = 'same', dilation = [1, 1], bias = true, act = 'linear', store = 'uint8' } = {}) {
  layer(name, 'Conv2D', {
    filters, kernel_size: k, strides, padding, data_format: 'channels_last', dilation_rate: dilation,
    activation: act, use_bias: bias,
  }, [src]);
  weight(name + '/kernel', [k[0], k[1], cin, filters], () => normal(0, 1 / Math.sqrt(k[0] * k[1] * cin)), store);
  if (bias) weight(name + '/bias', [filters], () => normal(0, 0.1));
  return name;
}
function depthwise(name, src, cin, mult, k, strides, padding, bias) {
  layer(name, 'DepthwiseConv2D', {
    kernel_size: k, strides, padding, depth_multiplier: mult, data_format: 'channels_last',
    dilation_rate: [1, 1], activation: 'linear', use_bias: bias,
  }, [src]);
  weight(name + '/depthwise_kernel', [k[0], k[1], cin, mult], () => normal(0, 1 / 3));
  if (bias) weight(name + '/bias', [cin * mult], () => normal(0, 0.1));
  return name;
}
function batchnorm(name, src, c, { scale = true, center = true, gammaStore = 'uint8' } = {}) {
  layer(name, 'BatchNormalization', { axis: -1, momentum: 0.99, epsilon: 0.001, center, scale }, [src]);
  if (scale) weight(name + '/gamma', [c], () => 0.5 + uniform(), gammaStore);
  if (center) weight(name + '/beta', [c], () => normal(0, 0.2));
  weight(name + '/moving_mean', [c], () => normal(0, 0.3));
  weight(name + '/moving_variance', [c], () => 0.3 + 1.7 * uniform());   // in [0.3, 2): positive
  return name;
}
function dense(name, src, fin, units, act, store = 'uint8') {
  layer(name, 'Dense', { units, activation: act, use_bias: true }, [src]);
  weight(name + '/kernel', [fin, units], () => normal(0, 1 / Math.sqrt(fin)), store);
  weight(name + '/bias', [units], () => normal(0, 0.1));
  return name;
}
function pool(name, cls, src, poolSize, strides, padding) {
  return layer(name, cls, { pool_size: poolSize, strides, padding, data_format: 'channels_last' }, [src]);
}

// shapes (H, W, C) at the declared input 19 x 23
const x = layer('input_1', 'InputLayer', { batch_input_shape: [null, 19, 23, 3], dtype: 'float32', sparse: false }, []);
let a = conv('conv_a', x, 3, 8, [3, 3], { strides: [2, 2] });                  // (10, 12, 8) 'same' /2, odd sizes: even padding
a = batchnorm('bn_a', a, 8, { gammaStore: 'float32' });                        //   gamma stored as float32
a = layer('relu_a', 'Activation', { activation: 'relu' }, [a]);
let b = depthwise('dw_b', a, 8, 2, [3, 3], [1, 1], 'same', false);            // (10, 12, 16) multiplier 2, no bias
b = batchnorm('bn_b', b, 16, { scale: false });
b = layer('relu6_b', 'ReLU', { max_value: 6, negative_slope: 0, threshold: 0 }, [b]);
const c = conv('conv_c', b, 16, 8, [1, 1], { padding: 'valid' });              // (10, 12, 8)
const s = layer('add_1', 'Add', {}, [c, a]);                                    // (10, 12, 8)
const p = layer('pad_1', 'ZeroPadding2D', { padding: [[1, 1], [1, 1]], data_format: 'channels_last' }, [s]);   // (12, 14, 8)
const d = depthwise('dw_d', p, 8, 1, [3, 3], [2, 2], 'valid', true);          // (5, 6, 8): ceil(in / 2) at any size
const e = conv('conv_e', d, 8, 6, [3, 1], { dilation: [2, 1], act: 'relu' });  // (5, 6, 6) 3x1 dilated along H
const f = conv('conv_f', s, 8, 6, [3, 3], { strides: [2, 2], act: 'relu6' });   // (5, 6, 6) 'same' /2 on 10x12: pads 0 top, 1 bottom
let g = depthwise('dw_g', s, 8, 1, [3, 3], [2, 2], 'same', false);            // (5, 6, 8) depthwise 'same' /2, uneven padding
g = batchnorm('bn_g', g, 8, { center: false });
g = layer('tanh_g', 'Activation', { activation: 'tanh' }, [g]);
g = layer('add_2', 'Add', {}, [d, g]);                                          // (5, 6, 8)
let m = layer('concat_1', 'Concatenate', { axis: -1 }, [g, e, f]);             // (5, 6, 20)
m = pool('ap_1', 'AveragePooling2D', m, [3, 3], [1, 1], 'same');               // (5, 6, 20)
m = pool('mp_2', 'MaxPooling2D', m, [2, 2], [2, 2], 'same');                   // (3, 3, 20) pads 0 top, 1 bottom
m = layer('sig_1', 'Activation', { activation: 'sigmoid' }, [m]);
m = pool('ap_2', 'AveragePooling2D', m, [2, 2], [1, 1], 'valid');              // (2, 2, 20)
m = layer('flatten_1', 'Flatten', { data_format: 'channels_last' }, [m]);       // (80) in (h, w, c) order
m = dense('dense_1', m, 80, 12, 'relu', 'uint16');
m = batchnorm('bn_1d', m, 12);                                                  // (12) batch norm of a flat tensor
m = layer('dropout_1', 'Dropout', { rate: 0.5 }, [m]);
let h = layer('pad_2', 'ZeroPadding2D', { padding: [[0, 1], [0, 1]], data_format: 'channels_last' }, [s]);   // (11, 13, 8)
h = conv('conv_h', h, 8, 6, [2, 2], { bias: false, store: 'float16' });          // (11, 13, 6) 2x2 'same' /1: pads 0 top, 1 bottom
h = batchnorm('bn_h', h, 6, { scale: false });                                  //   InceptionV3's conv (no bias) + BN (no scale)
h = layer('relu_h', 'ReLU', { max_value: null, negative_slope: 0, threshold: 0 }, [h]);
h = pool('ap_3', 'AveragePooling2D', h, [2, 2], [1, 1], 'same');               // (11, 13, 6) pads 0 top/left, 1 bottom/right
h = layer('softmax_h', 'Activation', { activation: 'softmax' }, [h]);           // over the channels
const h1 = pool('mp_4', 'MaxPooling2D', h, [2, 2], null, 'valid');            // (5, 6, 6) strides null = pool size
const h2 = conv('conv_k', h, 6, 6, [2, 3], { strides: [2, 2], padding: 'valid' });   // (5, 6, 6)
h = layer('concat_w', 'Concatenate', { axis: 2 }, [h1, h2]);                    // (5, 12, 6) along W
h = layer('gap_2', 'GlobalAveragePooling2D', { data_format: 'channels_last' }, [h]);   // (6)
h = layer('reshape_1', 'Reshape', { target_shape: [1, 1, 6] }, [h]);            // (1, 1, 6)
h = conv('conv_s', h, 6, 4, [1, 1], { act: 'sigmoid' });                        // (1, 1, 4)
h = layer('reshape_2', 'Reshape', { target_shape: [4] }, [h]);                  // (4)
let q = pool('mp_3', 'MaxPooling2D', s, [3, 3], [2, 2], 'valid');              // (4, 5, 8)
q = layer('gap_1', 'GlobalAveragePooling2D', { data_format: 'channels_last' }, [q]);   // (8)
const all = layer('concat_2', 'Concatenate', { axis: -1 }, [m, q, h]);          // (24)
const output = dense('dense_2', all, 24, 5, 'softmax');                         // (5)

// ---- the weights, quantised per tensor as tfjs-converter does, in name order
function quantise(w) {
  if (w.store === 'float32') return { bytes: Buffer.from(w.data.buffer.slice(0)), q: undefined };
  if (w.store === 'float16') {
    const buf = Buffer.alloc(2 * w.data.length);
    w.data.forEach((v, i) => buf.writeUInt16LE(toHalf(v), 2 * i));
    return { bytes: buf, q: { dtype: 'float16' } };
  }
  const levels = w.store === 'uint8' ? 255 : 65535;
  let lo = Math.min(...w.data), hi = Math.max(...w.data);
  let scale = hi > lo ? (hi - lo) / levels : 1;
  if (lo < 0 && hi > 0) lo = Math.round(lo / scale) * scale;                    // 0 exactly representable
  const buf = Buffer.alloc((levels === 255 ? 1 : 2) * w.data.length);
  w.data.forEach((v, i) => {
    const k = Math.min(levels, Math.max(0, Math.round((v - lo) / scale)));
    if (levels === 255) buf.writeUInt8(k, i); else buf.writeUInt16LE(k, 2 * i);
  });
  return { bytes: buf, q: { min: lo, scale, dtype: w.store } };
}
// float32 -> IEEE half, round to nearest even (the values here are normal halves)
function toHalf(v) {
  const f = new Float32Array([v]), u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000, exp = ((u >>> 23) & 0xff) - 127 + 15, man = u & 0x7fffff;
  if (exp <= 0 || exp >= 31) throw new Error(`toHalf: ${v} is not a normal half`);
  let hbits = sign | (exp << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (hbits & 1))) hbits++;
  return hbits;
}

weights.sort((u, v) => (u.name < v.name ? -1 : u.name > v.name ? 1 : 0));
const manifest = [], parts = [];
for (const w of weights) {
  const { bytes, q } = quantise(w);
  manifest.push({ name: w.name, shape: w.shape, dtype: 'float32', ...(q ? { quantization: q } : {}) });
  parts.push(bytes);
}
const shard = Buffer.concat(parts);
const model = {
  modelTopology: {
    keras_version: '2.2.4', backend: 'tensorflow',
    model_config: {
      class_name: 'Model', config: {
        name: 'tfjs_tiny', layers,
        input_layers: [[x, 0, 0]], output_layers: [[output, 0, 0]],
      },
    },
  },
  weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: manifest }],
};

// written whole or not at all
fs.mkdirSync(out, { recursive: true });
const files = [['group1-shard1of1.bin', shard], ['model.json', JSON.stringify(model)]];
for (const [name, data] of files) fs.writeFileSync(path.join(out, name + '.tmp'), data);
for (const [name] of files) fs.renameSync(path.join(out, name + '.tmp'), path.join(out, name));
console.log(`${out}: ${layers.length} layers, ${weights.length} weights, ${shard.length} bytes of shard`);
