// The web page in a real browser: Debian's chromium driven by playwright-core. Uploads a
// photo, chooses a style from the gallery, paints, waits for the result and saves a
// screenshot; then checks the page on a phone-sized screen. Any request to another origin,
// any script error, a result that never shows or a status that does not name the path that
// ran ("Painted by the fast network in ..." for fast, "Optimised in ..." for the others)
// fails it (exit 1, one line on stderr). --style2 blends a second style (fast only).
//
//   node tests/browser/stylize.mjs --url http://127.0.0.1:8080/ --photo PHOTO --style NAME \
//     [--size 64] [--quality fast|draft|normal|high] [--style2 NAME --blend 30] [--strength 80]
//     [--out shot.png] [--mobile-out phone.png] [--timeout 120] [--width 1280 --height 900]
//     [--chromium /usr/bin/chromium]
// (scripts/install-browser-test.sh installs chromium and playwright-core.)
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';

const pwVersion = createRequire(import.meta.url)('playwright-core/package.json').version;

function args(argv) {
  const o = { size: '64', quality: 'draft', out: 'screenshot.png', timeout: '120', width: '1280', height: '900',
              chromium: '/usr/bin/chromium' };
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    o[argv[i].slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = argv[i + 1];
  }
  for (const k of ['url', 'photo', 'style']) if (!o[k]) throw new Error(`--${k} is required`);
  return o;
}

async function paint(page, o) {
  const origin = new URL(o.url).origin, problems = [];
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) problems.push(`external request ${r.url()}`); });
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  await page.goto(o.url);
  await page.setInputFiles('#photo-input', o.photo);
  await page.waitForSelector('#photo-preview:not(.hidden)');
  await page.click(`.style-tile[data-name="${o.style}"]`);
  await page.selectOption('#size', String(o.size));
  await page.selectOption('#quality', o.quality);
  const setRange = (sel, v) => page.$eval(sel, (e, x) => { e.value = x; e.dispatchEvent(new Event('input')); }, String(v));
  if (o.strength) await setRange('#strength', o.strength);
  if (o.style2) {
    await page.selectOption('#style2', o.style2);
    if (o.blend) await setRange('#blend', o.blend);
  }
  await page.click('#submit');
  const fast = o.quality === 'fast';
  await page.waitForSelector('#live[data-done="1"]', { timeout: Number(o.timeout) * 1000 });
  await page.waitForFunction(() => { const i = document.querySelector('#live'); return i.complete && i.naturalWidth > 0; });
  await page.waitForSelector('#history .card img');   // it is in "Your paintings"
  const state = await page.textContent('#state');
  const want = fast ? /^Painted by the fast network in [0-9.]+ s \(/ : /^Optimised in [0-9.]+ (s|min)/;
  if (!want.test(state)) problems.push(`status says "${state}"`);
  // what the server was asked for: the job, by the id the page keeps in its history
  const job = await page.evaluate(async () => {
    const id = JSON.parse(localStorage.getItem('atelier.jobs'))[0].id, token = localStorage.getItem('atelier.token');
    return (await fetch('/api/jobs/' + id, { headers: token ? { Authorization: 'Bearer ' + token } : {} })).json();
  });
  if (job.path !== (fast ? 'fast' : 'optimise')) problems.push(`the job ran on the ${job.path} path`);
  if ((job.settings.style2 || null) !== (o.style2 || null)) problems.push(`the job's style2 is ${job.settings.style2}`);
  if (o.style2 && o.blend && job.settings.blend !== Number(o.blend) / 100) problems.push(`the job's blend is ${job.settings.blend}`);
  if (o.strength && job.settings.strength !== Number(o.strength) / 100) problems.push(`the job's strength is ${job.settings.strength}`);
  if (problems.length) throw new Error(problems.join('; '));
}

async function main() {
  const o = args(process.argv);
  const browser = await chromium.launch({ executablePath: o.chromium, headless: true,
                                          args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: Number(o.width), height: Number(o.height) } });
    await paint(page, o);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: o.out, fullPage: true });
    // A phone: nothing wider than the screen, the result still there.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`on a 390 px wide screen the page is ${overflow} px too wide`);
    if (o.mobileOut) await page.screenshot({ path: o.mobileOut, fullPage: true });
    console.log(`painted in Chromium ${browser.version()} (playwright-core ${pwVersion}), ${o.quality} quality` +
                `${o.style2 ? ` with ${o.style2}` : ''}: the result and the status shown, saved ${o.out}`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(`browser test: ${e.message.split('\n')[0]}`); process.exit(1); });
