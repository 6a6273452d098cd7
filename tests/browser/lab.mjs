// The GAN lab's page in a real browser: Debian's chromium driven by playwright-core. Picks
// the ring, plays a few seconds (and at least --min-iterations), checks that the charts moved and that the fake samples came
// closer to the ring (on the states the page received), uses step mode (D alone moves the
// heat map, not the fakes; G moves the fakes), draws a distribution with the mouse and
// trains on it, and takes screenshots at desktop size and at 390 px wide (no horizontal
// overflow); plays the "why did it collapse" preset and checks the alarm. Any request to another origin or script error fails it (exit 1, one line).
//
//   node tests/browser/lab.mjs --url http://127.0.0.1:8090/ [--out lab.png]
//     [--mobile-out lab-390.png] [--collapse-out collapse.png] [--play-seconds 6]
//     [--min-iterations 1000] [--collapse-iterations 600 (0: do not play it)] [--replay-iterations 500]
//     [--chromium /usr/bin/chromium]
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';

const pwVersion = createRequire(import.meta.url)('playwright-core/package.json').version;

function args(argv) {
  const o = { out: 'lab.png', mobileOut: 'lab-390.png', playSeconds: '6', minIterations: '1000', collapseIterations: '600', replayIterations: '500',
              chromium: '/usr/bin/chromium' };
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    o[argv[i].slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = argv[i + 1];
  }
  if (!o.url) throw new Error('--url is required');
  return o;
}

// mean distance of the fakes to the ring's circle (radius 0.3 around the centre)
const ringDistance = (s) => {
  let sum = 0;
  for (let i = 0; i < s.fake.length; i += 2) sum += Math.abs(Math.hypot(s.fake[i] - 0.5, s.fake[i + 1] - 0.5) - 0.3);
  return sum / (s.fake.length / 2);
};
const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

let stage = 'start';
async function run(page, o, problems) {
  const state = () => page.evaluate(() => window.labTest.state());
  const received = () => page.evaluate(() => window.labTest.states());
  await page.goto(o.url);
  stage = 'await page.waitForFunction(() => window.labTest && window.labTest.stat';
  await page.waitForFunction(() => window.labTest && window.labTest.states() > 0);
  // the ring, afresh
  await page.click('button[data-dist="ring"]');
  stage = 'await page.waitForFunction(() => window.labTest.state().settings.dist ';
  await page.waitForFunction(() => window.labTest.state().settings.dist === 'ring');
  await page.click('#reset');
  stage = 'await page.waitForFunction(() => window.labTest.state().iteration === ';
  await page.waitForFunction(() => window.labTest.state().iteration === 0);
  const s0 = await state();
  const d0 = ringDistance(s0), n0 = await received();
  const t0 = Date.now();
  await page.click('#play');
  await page.waitForTimeout(Number(o.playSeconds) * 1000);
  // and at least this many iterations (a slow backend, a loaded machine)
  await page.waitForFunction((n) => window.labTest.state().iteration >= n, Number(o.minIterations), { timeout: 120000 });
  await page.click('#play');                       // pause
  await page.waitForFunction(() => !window.labTest.busy() && document.querySelector('#play').getAttribute('aria-label') === 'play');
  const s1 = await state(), seconds = (Date.now() - t0) / 1000;
  const d1 = ringDistance(s1), n1 = await received();
  if (!(n1 - n0 >= 4)) problems.push(`the page received ${n1 - n0} states while playing`);
  if (!(s1.history.iter.length >= 3)) problems.push(`the charts have ${s1.history.iter.length} points`);
  if (!(d1 < 0.6 * d0)) problems.push(`the fakes did not approach the ring in ${s1.iteration} iterations: distance ${d0.toFixed(3)} -> ${d1.toFixed(3)}`);
  // the charts are drawn: the loss chart's canvas has coloured pixels
  const inked = await page.evaluate(() => {
    const c = document.querySelector('#losschart'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && Math.abs(d[i] - d[i + 1]) > 40) n++;
    return n;
  });
  if (inked < 50) problems.push(`the loss chart has ${inked} coloured pixels`);
  // step mode: D alone moves D's heat map and not the fakes; G alone moves the fakes
  await page.click('#stepd');
  stage = 'step 1';
  await page.waitForFunction((it) => window.labTest.state().iteration === it + 1, s1.iteration);
  const s2 = await state();
  if (maxDiff(s1.fake, s2.fake) !== 0 || !(maxDiff(s1.heat, s2.heat) > 0)) problems.push('step D moved the fakes or not the heat map');
  await page.click('#stepg');
  stage = 'step 2';
  await page.waitForFunction((it) => window.labTest.state().iteration === it + 1, s2.iteration);
  const s3 = await state();
  if (!(maxDiff(s2.fake, s3.fake) > 0) || maxDiff(s2.heat, s3.heat) !== 0) problems.push('step G did not move the fakes, or moved D');
  await page.click('#stepb');
  stage = 'step 3';
  await page.waitForFunction((it) => window.labTest.state().iteration === it + 1, s3.iteration);
  // a screenshot of the ring as learnt, with the manifold on
  await page.check('input[data-view="manifold"]');
  await page.screenshot({ path: o.out, fullPage: true });
  await page.uncheck('input[data-view="manifold"]');
  // draw a distribution: a stroke across the plane
  await page.click('#drawbtn');
  const box = await page.locator('#plane').boundingBox();
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.3);
  await page.mouse.down();
  for (let t = 0; t <= 1.0001; t += 0.02) await page.mouse.move(box.x + box.width * (0.2 + 0.6 * t), box.y + box.height * (0.3 + 0.4 * Math.sin(3 * t)));
  await page.mouse.up();
  await page.click('#drawdone');
  stage = 'await page.waitForFunction(() => window.labTest.state().settings.dist ';
  await page.waitForFunction(() => window.labTest.state().settings.dist === 'drawn');
  const sd = await state();
  if (!(sd.settings.npoints >= 20)) problems.push(`the drawing sent ${sd.settings.npoints} points`);
  await page.click('#play');
  stage = 'await page.waitForFunction(() => window.labTest.state().iteration >= 1';
  await page.waitForFunction(() => window.labTest.state().iteration >= 100, null, { timeout: 30000 });
  await page.click('#play');
  // "why did it collapse": the ring collapses and the alarm says so, live
  stage = 'collapse preset';
  await page.selectOption('#preset', 'collapse');
  await page.waitForFunction(() => window.labTest.state().settings.beta1 === 0.9 && window.labTest.state().iteration === 0);
  if (Number(o.collapseIterations) > 0) {
    await page.click('#play');
    await page.waitForFunction((n) => window.labTest.state().iteration >= n, Number(o.collapseIterations), { timeout: 60000 });
    await page.click('#play');
    await page.waitForFunction(() => !window.labTest.busy() && document.querySelector('#play').getAttribute('aria-label') === 'play');
    const alarm = await page.textContent('#alarm b');
    if (alarm !== 'Mode collapse') problems.push(`after the collapse preset the alarm says "${alarm}"`);
    if (o.collapseOut) await page.screenshot({ path: o.collapseOut, fullPage: true });
  }
  // back to the default, trained a little (for the phone's screenshot)
  stage = 'default preset';
  await page.selectOption('#preset', 'default');
  await page.waitForFunction(() => window.labTest.state().settings.beta1 === 0.5 && window.labTest.state().iteration === 0);
  await page.click('#play');
  await page.waitForFunction((n) => window.labTest.state().iteration >= n, Number(o.replayIterations), { timeout: 60000 });
  await page.click('#play');
  await page.waitForFunction(() => !window.labTest.busy() && document.querySelector('#play').getAttribute('aria-label') === 'play');
  return { d0, d1, iterations: s1.iteration, states: n1 - n0, seconds };
}

async function main() {
  const o = args(process.argv);
  const browser = await chromium.launch({ executablePath: o.chromium, headless: true,
                                          args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const origin = new URL(o.url).origin, problems = [];
    page.on('request', (r) => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) problems.push(`external request ${r.url()}`); });
    page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
    const m = await run(page, o, problems);
    // a phone: nothing wider than the screen
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) problems.push(`on a 390 px wide screen the page is ${overflow} px too wide`);
    await page.screenshot({ path: o.mobileOut, fullPage: true });
    if (problems.length) throw new Error(problems.join('; '));
    console.log(`lab in Chromium ${browser.version()} (playwright-core ${pwVersion}): ${m.iterations} iterations in ` +
                `${m.seconds.toFixed(1)} s of play, ${m.states} states received, fakes to the ring ${m.d0.toFixed(3)} -> ${m.d1.toFixed(3)}; ` +
                `step mode, drawing and 390 px checked; saved ${o.out}`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(`browser test: ${e.message.split('\n')[0]} (at: ${stage})`); process.exit(1); });
