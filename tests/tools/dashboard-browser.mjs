// The dashboard driven in real browsers (Debian's chromium, and firefox-esr where installed,
// through puppeteer-core: CDP for Chromium, WebDriver BiDi for Firefox) against a live service: upload a model through the page, see an API error in place (a bad calibration
// file), start a job from the form, watch it reach `succeeded` without a reload, open a variant,
// download its bundle through the page and check the sha256, see the compare chart with one
// point per measured variant; and, on a service with API keys, the key dialog. Every request
// the page makes must go to the service itself. Screenshots of each page, at 1280x800 and at a
// 390 px wide phone size, go to the output folder.
//
// usage: node dashboard-browser.mjs <aifgen binary> <model.onnx> <bigger model.onnx> <output folder>
// Exit 0: passed; 1: failed; 77: skipped (no browser here), saying why.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const [binary, modelPath, bigModelPath, outDir] = process.argv.slice(2);
if (!binary || !modelPath || !bigModelPath || !outDir) {
  console.error('usage: node dashboard-browser.mjs <aifgen binary> <model.onnx> <bigger model.onnx, for the cancelled upload> <output folder>');
  process.exit(2);
}
// Each browser the flows run in; a missing one is skipped, saying so, and the run is skipped
// (77) only when none is here.
const BROWSERS = [
  { name: 'chromium', path: process.env.CHROMIUM || '/usr/bin/chromium' },
  { name: 'firefox', path: process.env.FIREFOX || '/usr/bin/firefox-esr' },
].filter((b) => {
  if (fs.existsSync(b.path)) return true;
  console.log(`SKIP ${b.name}: no browser at ${b.path} (scripts/setup.sh --with-test-tools installs it)`);
  return false;
});
if (!BROWSERS.length) process.exit(77);
let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch (e) {
  console.log(`SKIP: puppeteer-core is not installed (scripts/setup.sh --with-test-tools): ${e.message}`);
  process.exit(77);
}

fs.mkdirSync(outDir, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'aifgen-dashboard-'));
const children = [];
// The services this script started never outlive it, however it ends.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
let browser = null;
let kind = null;  // the browser of this round: 'chromium' or 'firefox'
const started = Date.now();

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok (${kind}, ${((Date.now() - started) / 1000).toFixed(1)} s): ${what}`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// Starts `aifgen serve` on a free port (or `port`, for a restart) with its own data dir;
// resolves with its base URL once /healthz answers. The last one started is `service`.
let service = null;
async function startService(dataDir, port = null) {
  port = port || await freePort();
  const log = fs.openSync(path.join(outDir, `service-${port}.log`), 'a');
  const child = spawn(binary, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], { stdio: ['ignore', log, log] });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`aifgen serve exited with ${child.exitCode}; see ${outDir}/service-${port}.log`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) {
        service = { base, child, port, dataDir };
        return base;
      }
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('aifgen serve did not answer /healthz within 30 s');
}

const downloadDir = () => path.join(work, `downloads-${kind}`);

async function api(base, method, route, body) {
  const r = await fetch(base + route, { method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(`${method} ${route}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function newPage(base) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const foreign = [];
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(base + '/') && !url.startsWith('data:') && !url.startsWith('blob:')) foreign.push(url);
  });
  const consoleErrors = [];
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  // The browser also logs every error status as "Failed to load resource"; the flows provoke
  // some on purpose (the bad calibration file) and check how they are shown instead.
  page.on('console', (msg) => { if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) consoleErrors.push(msg.text()); });
  return { page, foreign, consoleErrors };
}

async function screenshots(page, name) {
  const shown = await page.$eval('#main', (el) => el.innerText);
  const hole = shown.match(/\b(null|undefined|NaN|\[object Object\])\b/);
  check(!hole, `${name}: no "${hole ? hole[1] : 'null'}" shown where a value is missing`);
  await page.setViewport({ width: 1280, height: 800 });
  const prefix = kind === 'chromium' ? name : `${name}-${kind}`;
  await page.screenshot({ path: path.join(outDir, `${prefix}-1280.png`), fullPage: true });
  // Not isMobile: switching that reloads the page, and the flows check that nothing reloads.
  await page.setViewport({ width: 390, height: 844 });
  await new Promise((r) => setTimeout(r, 300));  // charts resize on the next frame
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: path.join(outDir, `${prefix}-390.png`), fullPage: true });
  await page.setViewport({ width: 1280, height: 800 });
  check(overflow <= 0, `${prefix}: nothing wider than a 390 px screen (overflow ${overflow} px)`);
}

const text = (page, sel) => page.$eval(sel, (el) => el.textContent);

// Every visible control has an accessible name: a <label>, aria-label or its own text.
async function checkLabels(page, name) {
  const unlabelled = await page.$$eval('input, select, button', (els) => els.filter((e) => {
    if (e.type === 'hidden' || e.closest('dialog')) return false;
    return !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim();
  }).map((e) => e.outerHTML.slice(0, 60)));
  check(unlabelled.length === 0, `every control on the ${name} page has a label (${unlabelled.join(' ')})`);
}

async function cancelledUpload(page, base) {
  const cdpPage = await page.createCDPSession();
  await cdpPage.send('Network.enable');
  // 64 KiB/s: the 4.7 MB model takes over a minute to send, so the click below lands mid-body
  // even on a loaded CI machine (at 256 KiB/s it once came after the last byte under load).
  await cdpPage.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 64 * 1024 });
  await (await page.$('#file-Upload-an-ONNX-model')).uploadFile(bigModelPath);
  await page.waitForFunction(() => { const p = document.querySelector('.dropzone progress'); return p && p.value > 0 && p.value < p.max; }, { timeout: 20000 });
  // Read the bar and press cancel in one page task, so the figure is the one at the click.
  const atClick = await page.evaluate(() => {
    const p = document.querySelector('.dropzone progress');
    const seen = { sent: p.value, total: p.max };
    document.querySelector('.dropzone button').click();
    return seen;
  });
  check(atClick.sent > 0 && atClick.sent < atClick.total, `a slow upload shows its progress (${atClick.sent} of ${atClick.total} bytes when cancelled)`);
  await page.waitForFunction(() => document.querySelector('.dropzone').textContent.includes('Upload cancelled'), { timeout: 10000 });
  await cdpPage.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await new Promise((r) => setTimeout(r, 500));
  check((await api(base, 'GET', '/v1/models')).items.length === 0, 'a cancelled upload stores no model');
}

async function mainFlow() {
  const base = await startService(path.join(work, `data-${kind}`));
  const { page, foreign, consoleErrors } = await newPage(base);
  const jobRequests = { inFlight: 0, most: 0, count: 0 };

  // Models: upload through the page's file input (the drop zone's own control).
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForSelector('#file-Upload-an-ONNX-model');
  // The model list renders after its own request, which may land after the upload form: wait
  // for it (a fixed check here failed once in CI with the form shown and the list not yet).
  await page.waitForFunction(() => document.querySelector('#main').textContent.includes('No models yet'), { timeout: 10000 })
    .catch(() => {});
  check((await text(page, '#main')).includes('No models yet'), 'an empty service shows no models');
  await page.evaluate(() => { window.__sameDocument = true; });

  // A slow upload shows bytes sent and can be cancelled; nothing is stored then. (Throttling
  // is a DevTools protocol feature: Chromium only.)
  if (kind === 'chromium') await cancelledUpload(page, base);

  const upload = await page.$('#file-Upload-an-ONNX-model');
  await upload.uploadFile(modelPath);
  await page.waitForFunction(() => /^#\/models\/[0-9a-f]{64}$/.test(location.hash), { timeout: 30000 });
  const modelId = (await page.evaluate(() => location.hash)).split('/')[2];
  await page.waitForSelector('#job-form');
  const sha = createHash('sha256').update(fs.readFileSync(modelPath)).digest('hex');
  check(modelId === sha, 'the upload lands on the model page of its sha256');
  const verdicts = await page.$$eval('table .badge', (els) => els.map((e) => e.textContent));
  check(verdicts.length >= 6 && verdicts.every((v) => ['native', 'partial', 'unsupported'].includes(v)), `a verdict per target (${verdicts.join(', ')})`);
  check((await text(page, '#main')).includes('Conv'), 'the op census lists the model\'s operators');
  // The classifier's H and W are free: its MAC count is a lower bound, and the page says so.
  check((await text(page, '#main')).includes('nodes not counted'), 'a MAC count with free input dims is shown as a lower bound');

  // An API error in place: a calibration file that is not .npy.
  const bad = path.join(work, 'not-a-calibration-set.npy');
  fs.writeFileSync(bad, 'this is not an npy file');
  const calib = await page.$('input[type=file][accept=".npy,.npz"]');
  await calib.uploadFile(bad);
  await page.waitForSelector('.dropzone .problem', { timeout: 15000 });
  const problem = await text(page, '.dropzone .problem');
  check(/aifgen\.dev\/problems\//.test(problem) && problem.length > 40, `a bad calibration file shows the problem in place: "${problem.slice(0, 120)}"`);
  await screenshots(page, 'model');
  await checkLabels(page, 'model');

  // New job from the form: x86_64-cpu at fp32 and int8, and arm64-cpu at fp16 (no cross product:
  // x86_64-cpu has no fp16). Only the x86 ones are benchmarked on this host.
  for (const p of ['fp32', 'int8']) await page.click(`input[data-target="x86_64-cpu"][data-precision="${p}"]`);
  await page.click('input[data-target="arm64-cpu"][data-precision="fp16"]');
  page.on('request', (req) => {
    if (/\/v1\/jobs\/[\w-]+(\?|$)/.test(req.url()) && req.method() === 'GET') {
      jobRequests.count++;
      jobRequests.inFlight++;
      jobRequests.most = Math.max(jobRequests.most, jobRequests.inFlight);
    }
  });
  const done = (req) => { if (/\/v1\/jobs\/[\w-]+(\?|$)/.test(req.url()) && req.method() === 'GET') jobRequests.inFlight--; };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  await page.click('#job-form button[type=submit]');
  await page.waitForFunction(() => /^#\/jobs\/[\w-]+$/.test(location.hash), { timeout: 15000 });
  const jobId = (await page.evaluate(() => location.hash)).split('/')[2];
  await page.waitForSelector('#main [data-state]');
  const firstState = await page.$eval('#main [data-state]', (el) => el.dataset.state);
  await page.waitForSelector('#main [data-state="succeeded"]', { timeout: 240000 });
  check(await page.evaluate(() => window.__sameDocument === true), `job ${jobId} went from ${firstState} to succeeded without a reload`);
  check(jobRequests.most === 1, `one job request in flight at a time (most ${jobRequests.most}, ${jobRequests.count} in all)`);
  const waits = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/v1/jobs/') && n.includes('wait=')).length);
  check(waits >= 1, `the job view long-polls with ?wait= (${waits} such requests)`);
  const rows = await page.$$eval('#main tbody tr', (trs) => trs.map((tr) => tr.textContent));
  check(rows.length === 3 && rows.every((r) => r.includes('succeeded')), `the three variants ticked were built (${rows.length})`);
  check(rows.some((r) => r.includes('arm64-cpu') && r.includes('fp16')), 'arm64-cpu fp16 among them');
  await screenshots(page, 'job');

  // Variant page and the download through the signed link.
  await page.click('#main a[href^="#/variants/"]');
  await page.waitForSelector('#download');
  const variantText = await text(page, '#main');
  check(variantText.includes('SQNR') && variantText.includes('Passes'), 'the variant page shows validation and passes');
  const downloads = downloadDir();
  let finished;
  if (kind === 'chromium') {
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads, eventsEnabled: true });
    finished = new Promise((resolve, reject) => {
      cdp.on('Browser.downloadProgress', (e) => {
        if (e.state === 'completed') resolve();
        if (e.state === 'canceled') reject(new Error('the download was cancelled'));
      });
    });
  } else {
    // Firefox saves into browser.download.dir (set at launch); done when the file is whole.
    finished = (async () => {
      for (;;) {
        const done = fs.readdirSync(downloads).filter((f) => !f.endsWith('.part'));
        if (done.length && !fs.readdirSync(downloads).some((f) => f.endsWith('.part')) && fs.statSync(path.join(downloads, done[0])).size > 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
  }
  await page.click('#download');
  await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error('no download within 60 s')), 60000))]);
  await page.waitForSelector('#download-sha256');
  const shown = await text(page, '#download-sha256');
  const files = fs.readdirSync(downloads).filter((f) => !f.endsWith('.crdownload') && !f.endsWith('.part'));
  check(files.length === 1, `one file downloaded (${files.join(', ')})`);
  const got = createHash('sha256').update(fs.readFileSync(path.join(downloads, files[0]))).digest('hex');
  check(got === shown, `the downloaded bundle's sha256 is the one the page shows (${got.slice(0, 16)}…)`);
  await screenshots(page, 'variant');

  // Compare: one point per benchmarked variant (both x86 variants are measured on this host).
  await page.goto(`${base}/#/compare/${modelId}`, { waitUntil: 'load' });
  await page.waitForSelector('#main[data-points]', { timeout: 30000 });
  const points = Number(await page.$eval('#main', (el) => el.dataset.points));
  check(points === 2, `the compare chart has one point per measured variant (${points})`);
  check((await text(page, '#main')).includes('1 built variant(s) have no benchmark'), 'the unmeasured arm64 variant is named, not plotted');
  const painted = await page.$eval('#scatter', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  check(painted > 1000, `the scatter chart is drawn (${painted} painted pixels)`);
  check((await text(page, '.recommendation')).startsWith('Recommended: x86_64-cpu'), 'a recommendation is highlighted');
  await screenshots(page, 'compare');

  // The lists, and the keyboard: the first Tab reaches the skip link.
  await page.goto(`${base}/#/jobs`, { waitUntil: 'load' });
  await page.waitForSelector('#main tbody tr');
  await screenshots(page, 'jobs');
  await page.goto(`${base}/#/models`, { waitUntil: 'load' });
  await page.waitForSelector('#main tbody tr');
  await screenshots(page, 'models');
  const fresh = await browser.newPage();
  await fresh.goto(`${base}/`, { waitUntil: 'load' });
  await fresh.waitForSelector('#main tbody tr');
  await fresh.keyboard.press('Tab');
  const focused = await fresh.evaluate(() => document.activeElement.outerHTML.slice(0, 80));
  check(focused.includes('class="skip"'), `the first Tab reaches "Skip to content" (${focused})`);
  await fresh.keyboard.press('Enter');
  await fresh.keyboard.press('Tab');
  const next = await fresh.evaluate(() => document.activeElement.outerHTML.slice(0, 80));
  check(next.includes('type="file"') || next.includes('<label'), `after skipping, the next Tab lands in the page (${next})`);
  await fresh.close();
  await checkLabels(page, 'models');

  // A lost service: the live job view says "reconnecting" and recovers by itself once the
  // service is back (here killed with SIGKILL mid-job and restarted on the same port and data
  // dir; the interrupted job is requeued and finishes).
  const long = await api(base, 'POST', '/v1/jobs', { model_id: modelId, targets: ['x86_64-cpu', 'arm64-cpu', 'nvidia-gpu', 'nvidia-jetson', 'xilinx-alveo', 'xilinx-zynq'] });
  await page.goto(`${base}/#/jobs/${long.id}`, { waitUntil: 'load' });
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.waitForSelector('#main [data-state="running"]', { timeout: 60000 });
  const { child, port, dataDir } = service;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  await page.waitForFunction(() => document.querySelector('#connection').textContent.includes('reconnecting'), { timeout: 30000 });
  check(true, `with the service gone the page says "${await text(page, '#connection')}"`);
  await screenshots(page, 'reconnecting');
  await startService(dataDir, port);
  await page.waitForFunction(() => document.querySelector('#connection').textContent === '', { timeout: 30000 });
  check(true, 'the page reconnected by itself when the service came back');
  await page.waitForSelector('#main [data-state="succeeded"]', { timeout: 240000 });
  const attempts = await page.$eval('#main', (m) => m.innerText.match(/attempts\s+(\d+)/)?.[1]);
  check(await page.evaluate(() => window.__sameDocument === true), `the interrupted job succeeded on the same page (attempts ${attempts})`);

  check(foreign.length === 0, `no request to any other host (${foreign.join(', ')})`);
  check(consoleErrors.length === 0, `no script errors (${consoleErrors.join(' | ')})`);
  await page.close();
}

// With API keys on, the page asks for one, keeps it for this tab only, and then works.
async function keyFlow() {
  const dataDir = path.join(work, `keyed-${kind}`);
  const out = execFileSync(binary, ['keys', 'create', '--data-dir', dataDir, '--name', 'browser', '--scope', 'read'], { encoding: 'utf8' });
  const key = out.trim().split('\n').pop();
  check(key.startsWith('agk_'), 'a read key was created');
  const base = await startService(dataDir);
  const { page, foreign } = await newPage(base);
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForSelector('#key-dialog[open]', { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector('#main h1')?.textContent === 'API key needed', { timeout: 15000 });
  check(true, 'behind the dialog the page says an API key is needed, not that something went wrong');
  await screenshots(page, 'key-dialog');
  await page.type('#key-input', key);
  await page.click('#key-form button[value=save]');
  await page.waitForFunction(() => document.querySelector('#main').textContent.includes('No models yet'), { timeout: 15000 });
  const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('aifgen.apiKey'), local: localStorage.length }));
  check(stored.session === key && stored.local === 0, 'the key is kept in sessionStorage only');
  check(foreign.length === 0, 'no request to any other host with keys on');
  await page.close();
}

async function launch(b) {
  if (b.name === 'chromium')
    return puppeteer.launch({ executablePath: b.path, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  fs.mkdirSync(path.join(work, 'downloads-firefox'), { recursive: true });
  return puppeteer.launch({
    browser: 'firefox', executablePath: b.path, headless: true,
    extraPrefsFirefox: {
      'browser.download.dir': path.join(work, 'downloads-firefox'), 'browser.download.folderList': 2,
      'browser.download.useDownloadDir': true, 'browser.download.always_ask_before_handling_new_types': false,
    },
  });
}

let failed = false;
let ran = 0;
for (const b of BROWSERS) {
  kind = b.name;
  try {
    browser = await launch(b);
  } catch (e) {
    console.log(`SKIP ${b.name}: the browser at ${b.path} did not start: ${e.message.split('\n')[0]}`);
    continue;
  }
  console.log(`--- ${b.name} ${await browser.version()}`);
  if (b.name === 'chromium') fs.mkdirSync(downloadDir(), { recursive: true });
  try {
    await mainFlow();
    await keyFlow();
    ran++;
  } catch (e) {
    failed = true;
    console.error(`FAILED (${b.name}): ${e.stack || e}`);
    try {
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 10000));
      for (const p of await browser.pages())
        await Promise.race([p.screenshot({ path: path.join(outDir, `failure-${b.name}-${Date.now()}.png`), fullPage: true }), timeout]);
    } catch { /* the page may be gone */ }
  } finally {
    await browser.close();
    for (const c of children) c.kill('SIGTERM');
    children.length = 0;
  }
  if (failed) break;
}
fs.rmSync(work, { recursive: true, force: true });
if (!failed) console.log(ran ? `passed in ${ran} browser(s); screenshots in ${outDir}` : 'SKIP: no browser started');
process.exit(failed ? 1 : ran ? 0 : 77);
