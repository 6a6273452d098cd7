// The training dashboard (atelier gan train --dashboard) in a real browser: Debian's chromium
// driven by playwright-core. Opens the page of a running training, waits until it shows a
// step, a loss chart and the sample grid, then until the step counter grows and the loss
// chart's pixels change (the page polls); with --want-kid also until the KID chart has a
// point. Saves a screenshot, then checks the page on a 390 px wide screen (no horizontal
// overflow) and saves that too. Any request to another origin, any script error or a page
// that does not update in time fails it (exit 1, one line on stderr).
//
//   node tests/browser/dashboard.mjs --url http://127.0.0.1:8091/ [--token T] [--want-kid 1]
//     [--out desktop.png] [--mobile-out phone.png] [--timeout 60] [--width 1280 --height 900]
//     [--chromium /usr/bin/chromium]
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';

const pwVersion = createRequire(import.meta.url)('playwright-core/package.json').version;

function args(argv) {
  const o = { out: 'dashboard.png', timeout: '60', width: '1280', height: '900', chromium: '/usr/bin/chromium' };
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    o[argv[i].slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = argv[i + 1];
  }
  if (!o.url) throw new Error('--url is required');
  return o;
}

const stepOf = (page) => page.$eval('#step', (e) => Number(e.dataset.step || -1));
const lossPixels = (page) => page.$eval('#c-loss', (c) => c.toDataURL());

async function watch(page, o) {
  const origin = new URL(o.url).origin, problems = [], ms = Number(o.timeout) * 1000;
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) problems.push(`external request ${r.url()}`); });
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  await page.goto(o.token ? `${o.url}?token=${encodeURIComponent(o.token)}` : o.url);
  if (o.token && page.url().includes('token=')) problems.push('the token stays in the address bar');
  await page.waitForFunction(() => Number(document.querySelector('#step').dataset.step || 0) > 0 &&
                             Number(document.querySelector('#c-loss').dataset.points || 0) >= 2, null, { timeout: ms });
  const step0 = await stepOf(page), pixels0 = await lossPixels(page);
  const t0 = Date.now();
  let step1 = step0, pixels1 = pixels0;
  while ((step1 <= step0 || pixels1 === pixels0) && Date.now() - t0 < ms) {
    await page.waitForTimeout(500);
    step1 = await stepOf(page);
    pixels1 = await lossPixels(page);
  }
  if (step1 <= step0) problems.push(`the step counter stayed at ${step0}`);
  if (pixels1 === pixels0) problems.push('the loss chart did not change');
  await page.waitForFunction(() => { const i = document.querySelector('#grid-box img'); return i && i.complete && i.naturalWidth > 0; },
                             null, { timeout: ms });
  if (Number(o.wantKid)) await page.waitForFunction(() => Number(document.querySelector('#c-kid').dataset.points || 0) >= 1, null, { timeout: ms });
  const phase = await page.$eval('#pill', (e) => e.dataset.phase);
  if (phase !== 'training' && phase !== 'finished') problems.push(`the page says the run is "${phase}"`);
  if (problems.length) throw new Error(problems.join('; '));
  return { step0, step1, phase };
}

async function main() {
  const o = args(process.argv);
  const browser = await chromium.launch({ executablePath: o.chromium, headless: true,
                                          args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: Number(o.width), height: Number(o.height) } });
    const seen = await watch(page, o);
    await page.screenshot({ path: o.out, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(400);   // the charts redraw at the new width
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`on a 390 px wide screen the page is ${overflow} px too wide`);
    if (o.mobileOut) await page.screenshot({ path: o.mobileOut, fullPage: true });
    console.log(`dashboard in Chromium ${browser.version()} (playwright-core ${pwVersion}): step ${seen.step0} -> ${seen.step1}, ` +
                `the loss chart redrawn, the grid shown, no overflow at 390 px; saved ${o.out}`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(`dashboard browser test: ${e.message}`); process.exit(1); });
