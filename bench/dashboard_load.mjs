// The dashboard's load figures in headless Chromium against a live service (bench/dashboard_load.sh
// runs this): bytes transferred by a first load with an empty cache, the time to render the jobs
// page with 500 jobs, and the requests an idle open job view costs the service.
//
// usage: node bench/dashboard_load.mjs <aifgen binary> <small model.onnx> <slow model.onnx> [jobs]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const puppeteer = (await import(pathToFileURL(`${repo}/tests/tools/node_modules/puppeteer-core/lib/esm/puppeteer/puppeteer-core.js`))).default;
const [binary, smallModel, slowModel, jobsArg] = process.argv.slice(2);
const JOBS = Number(jobsArg || 500);
const IDLE_S = 60;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'aifgen-dashboard-load-'));
const port = await new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const base = `http://127.0.0.1:${port}`;
// One worker: the slow job holds it while the idle view watches a queued job behind it.
const service = spawn(binary, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', `${work}/data`, '--workers', '1'], { stdio: 'ignore' });
process.on('exit', () => { if (service.exitCode === null) service.kill('SIGKILL'); fs.rmSync(work, { recursive: true, force: true }); });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* starting */ }
  if (i > 300) throw new Error('the service did not start');
  await new Promise((r) => setTimeout(r, 100));
}
async function api(method, route, body, type = 'application/json') {
  const r = await fetch(base + route, { method, headers: body ? { 'Content-Type': type } : {}, body: body && type === 'application/json' ? JSON.stringify(body) : body });
  if (!r.ok && r.status !== 409) throw new Error(`${method} ${route}: ${r.status} ${await r.text()}`);
  return r.json();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
console.log(`browser: ${await browser.version()}; service: ${binary}; ${os.cpus().length} CPUs (${os.cpus()[0].model})`);

// 1. First load, empty cache: every byte on the wire (headers included) until the models page
// has rendered.
{
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  await cdp.send('Network.clearBrowserCache');
  const urls = new Map();
  let total = 0;
  const rows = [];
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, `${e.response.url} (${e.response.headers['content-encoding'] || e.response.headers['Content-Encoding'] || 'identity'})`));
  cdp.on('Network.loadingFinished', (e) => { total += e.encodedDataLength; rows.push([urls.get(e.requestId), e.encodedDataLength]); });
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelector('#main').textContent.includes('No models yet'));
  await new Promise((r) => setTimeout(r, 300));
  console.log('\n== first load, empty cache (bytes on the wire, headers included)');
  for (const [u, n] of rows) console.log(`${String(n).padStart(9)}  ${u.replace(base, '')}`);
  console.log(`${String(total).padStart(9)}  total: ${(total / 1024).toFixed(1)} KiB (goal: under 300 KB) -> ${total < 300000 ? 'met' : 'NOT met'}`);
  await context.close();
}

// 2. The jobs page with JOBS jobs: queued and cancelled at once (a cancelled queued job never
// runs), so the machine is quiet while the page renders.
const small = await api('POST', '/v1/models?name=small', fs.readFileSync(smallModel), 'application/octet-stream');
const t0 = Date.now();
for (let i = 0; i < JOBS; i += 25) {
  await Promise.all(Array.from({ length: Math.min(25, JOBS - i) }, async () => {
    const j = await api('POST', '/v1/jobs', { model_id: small.id, variants: ['x86_64-cpu/fp32'] });
    await api('POST', `/v1/jobs/${j.id}/cancel`, {});
  }));
}
for (;;) {
  const running = await api('GET', '/v1/jobs?state=running');
  const queued = await api('GET', '/v1/jobs?state=queued');
  if (!running.items.length && !queued.items.length) break;
  await new Promise((r) => setTimeout(r, 200));
}
console.log(`\n== jobs page with ${JOBS} jobs (made in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
{
  const cold = [];
  const warm = [];
  for (let round = 0; round < 3; round++) {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(`${base}/#/jobs`, { waitUntil: 'load' });
    await page.waitForFunction((n) => document.querySelectorAll('#main tbody tr').length >= n, { polling: 'mutation', timeout: 60000 }, JOBS);
    cold.push(await page.evaluate(() => performance.now()));
    // From another page of the app: the route change alone (assets cached, scripts parsed).
    await page.evaluate(() => { location.hash = '#/models'; });
    await page.waitForFunction(() => document.querySelector('#main').dataset.view === 'models' && !document.querySelector('#main tbody tr progress'));
    const ms = await page.evaluate(async (n) => {
      const start = performance.now();
      location.hash = '#/jobs';
      await new Promise((resolve) => {
        const check = () => (document.querySelectorAll('#main tbody tr').length >= n ? resolve() : requestAnimationFrame(check));
        check();
      });
      await new Promise((r) => requestAnimationFrame(() => r()));  // painted
      return performance.now() - start;
    }, JOBS);
    warm.push(ms);
    await page.close();
  }
  console.log(`navigation to rendered table, fresh page: median ${median(cold).toFixed(0)} ms (${cold.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`route change to rendered table:          median ${median(warm).toFixed(0)} ms (${warm.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`goal: under 1 s -> ${median(cold) < 1000 ? 'met' : 'NOT met'}`);
}

// 3. An idle open job view: a job queued behind a slow one on the only worker does not change;
// count the view's requests for IDLE_S seconds.
{
  // Every target, INT8 calibrated four ways (`auto`), twice: minutes of work ahead of it.
  const slow = await api('POST', '/v1/models?name=slow', fs.readFileSync(slowModel), 'application/octet-stream');
  for (let i = 0; i < 2; i++)
    await api('POST', '/v1/jobs', { model_id: slow.id, targets: ['x86_64-cpu', 'arm64-cpu', 'nvidia-gpu', 'nvidia-jetson', 'xilinx-alveo', 'xilinx-zynq'],
      options: { calibration_method: 'auto', calibration_samples: 64 + i } });
  const idle = await api('POST', '/v1/jobs', { model_id: small.id, variants: ['x86_64-cpu/int8'] });
  const page = await browser.newPage();
  const seen = [];
  page.on('request', (r) => { if (r.url().includes(`/v1/jobs/${idle.id}`)) seen.push([Date.now(), r.url().replace(base, '')]); });
  await page.goto(`${base}/#/jobs/${idle.id}`, { waitUntil: 'load' });
  const start = Date.now();
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  const state = await page.$eval('#main [data-state]', (el) => el.dataset.state);
  console.log(`\n== idle job view, ${IDLE_S} s (the job stayed ${state}; long-poll period 25 s)`);
  for (const [t, u] of seen) console.log(`  +${((t - start) / 1000).toFixed(1).padStart(5)} s  GET ${u}`);
  const periods = Math.ceil(IDLE_S / 25);
  console.log(`${seen.length} requests in ${IDLE_S} s: the first load plus one per period at most would be ${periods + 1} -> ${seen.length <= periods + 1 && state === 'queued' ? 'met' : 'NOT met'}`);
  await page.close();
}

await browser.close();
service.kill('SIGTERM');
fs.rmSync(work, { recursive: true, force: true });
