// tfjs_unumd.js: turns a model folder of the npm package nsfwjs (UMD JavaScript modules:
// model.min.js exporting the TF.js model.json object, group1-shardKofN.min.js each exporting
// a base64 string of raw weight bytes) into the standard TF.js layout that Atelier reads:
// model.json (its manifest paths renamed to the .bin files) and group1-shardKofN.bin.
//
// usage: node tools/tfjs_unumd.js SRC_DIR DST_DIR
//   DST_DIR is written whole or not at all (built beside it, then renamed over it).
// Checks: the model exports a modelTopology and a weightsManifest; every shard module exists
// and exports clean base64; each manifest group's shards together hold exactly the bytes its
// weights need (shape x dtype size, quantised or not). Any failure: one line, exit status 1.
// The modules run in a bare vm context (no require, no process): they only build a value.
'use strict';
const fs = require('fs'), path = require('path'), vm = require('vm');

function fail(msg) { process.stderr.write('tfjs_unumd: ' + msg + '\n'); process.exit(1); }

// the value a UMD (or CommonJS) module assigns to module.exports
function loadModule(file) {
  let code;
  try { code = fs.readFileSync(file, 'utf8'); } catch (e) { throw new Error(`${file}: ${e.code || e.message}`); }
  const module = { exports: {} };
  try {
    vm.runInNewContext(code, { module, exports: module.exports }, { filename: file, timeout: 60000 });
  } catch (e) { throw new Error(`${file}: ${e.message}`); }
  const v = module.exports;
  return v && typeof v === 'object' && 'default' in v ? v.default : v;
}

const BYTES = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

// bytes one manifest entry takes in the shards (null when it cannot be known: string weights)
function weightBytes(w, i) {
  if (!w || typeof w.name !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new Error(`manifest weight ${i} needs a name and a shape of sizes`);
  if (w.dtype === 'string') return null;
  const dt = w.quantization ? w.quantization.dtype : w.dtype;
  if (!BYTES[dt]) throw new Error(`weight ${w.name}: unknown dtype ${dt}`);
  return w.shape.reduce((a, b) => a * b, 1) * BYTES[dt];
}

function main() {
  const args = process.argv.slice(2);
  if (args.length !== 2 || args.some((a) => a.startsWith('-')))
    fail('usage: node tools/tfjs_unumd.js SRC_DIR DST_DIR   (nsfwjs dist/models/<name> -> model.json + .bin shards)');
  const [src, dst] = args;
  let model;
  try { model = loadModule(path.join(src, 'model.min.js')); } catch (e) { fail(e.message); }
  if (!model || typeof model !== 'object' || !model.modelTopology || !Array.isArray(model.weightsManifest))
    fail(`${src}/model.min.js does not export a TF.js model.json object (modelTopology, weightsManifest)`);

  const tmp = path.join(path.dirname(path.resolve(dst)), '.' + path.basename(path.resolve(dst)) + '.tmp-' + process.pid);
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    model.weightsManifest.forEach((group, g) => {
      if (!group || !Array.isArray(group.paths) || !group.paths.length || !Array.isArray(group.weights))
        throw new Error(`manifest group ${g} needs paths and weights lists`);
      let want = 0;
      group.weights.forEach((w, i) => { const n = weightBytes(w, i); want = n === null || want === null ? null : want + n; });
      let have = 0;
      group.paths = group.paths.map((p) => {
        const base = String(p).split('/').pop().replace(/\.min\.js$/, '').replace(/\.bin$/, '');
        if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(base)) throw new Error(`odd shard name '${p}'`);
        const data = loadModule(path.join(src, base + '.min.js'));
        if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4)
          throw new Error(`${base}.min.js does not export a base64 string`);
        const bytes = Buffer.from(data, 'base64');
        fs.writeFileSync(path.join(tmp, base + '.bin'), bytes);
        have += bytes.length;
        return base + '.bin';
      });
      if (want !== null && have !== want)
        throw new Error(`manifest group ${g}: its shards hold ${have} bytes, its weights need ${want}`);
    });
    fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(model));
    fs.rmSync(dst, { recursive: true, force: true });
    fs.renameSync(tmp, dst);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    fail(`${src}: ${e.message}`);
  }
}

main();
