// tfjs_unumd.js: turns a model folder of the npm package nsfwjs (UMD JavaScript modules:
// model.min.js exporting the TF.js model.json object, group1-shardKofN.min.js exporting a
// base64 string of raw weight bytes) into the standard TF.js layout that Atelier reads:
// model.json (its manifest paths pointing at the .bin files) and group1-shardKofN.bin.
// usage: node tools/tfjs_unumd.js SRC_DIR DST_DIR   (DST_DIR is written whole or not at all)
'use strict';
const fs = require('fs'), path = require('path');
function fail(msg) { process.stderr.write('tfjs_unumd: ' + msg + '\n'); process.exit(1); }
const [src, dst] = process.argv.slice(2);
if (!src || !dst) fail('usage: node tools/tfjs_unumd.js SRC_DIR DST_DIR');
let model;
try { model = require(path.resolve(src, 'model.min.js')); } catch (e) { fail(`${src}/model.min.js: ${e.message}`); }
if (model && model.default) model = model.default;
if (!model || typeof model !== 'object' || !model.modelTopology || !Array.isArray(model.weightsManifest))
  fail(`${src}/model.min.js does not export a TF.js model.json object`);
const tmp = dst.replace(/\/+$/, '') + '.tmp-' + process.pid;
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(tmp, { recursive: true });
try {
  for (const group of model.weightsManifest) {
    group.paths = group.paths.map((p) => {
      const base = path.basename(p).replace(/\.min\.js$/, '').replace(/\.bin$/, '');
      if (!/^[A-Za-z0-9_.-]+$/.test(base)) throw new Error(`odd shard name '${p}'`);
      let data = require(path.resolve(src, base + '.min.js'));
      if (data && data.default) data = data.default;
      if (typeof data !== 'string') throw new Error(`${base}.min.js does not export a base64 string`);
      fs.writeFileSync(path.join(tmp, base + '.bin'), Buffer.from(data, 'base64'));
      return base + '.bin';
    });
  }
  fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(model));
  fs.rmSync(dst, { recursive: true, force: true });
  fs.renameSync(tmp, dst);
} catch (e) {
  fs.rmSync(tmp, { recursive: true, force: true });
  fail(`${src}: ${e.message}`);
}
