// One function per page. Each builds its DOM from API answers (text nodes only: nothing from the
// API is parsed as HTML) and stops its requests when `signal` aborts (the page was left).
'use strict';

const Views = (() => {
  // Element builder: h('a', { href: '#/x' }, 'text', child, ...). `on*` attributes bind events.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    return el;
  }

  const fmt = {
    bytes(n) {
      if (n === null || n === undefined) return '—';
      const u = ['B', 'KB', 'MB', 'GB'];
      let i = 0;
      while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
      return `${i ? n.toFixed(1) : n} ${u[i]}`;
    },
    count(n) {
      if (n === null || n === undefined) return '—';
      if (n >= 1e9) return (n / 1e9).toFixed(2) + ' G';
      if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M';
      if (n >= 1e3) return (n / 1e3).toFixed(1) + ' k';
      return String(n);
    },
    ms(x) { return x === null || x === undefined ? '—' : x < 1 ? x.toFixed(3) : x.toFixed(2); },
    num(x, d = 4) { return x === null || x === undefined ? '—' : Number(x).toFixed(d); },
    time(s) { return s ? new Date(s).toLocaleString() : '—'; },
    short(id) { return id.length > 16 ? id.slice(0, 12) + '…' : id; },
  };

  // replaceChildren without the holes that conditional children leave (it would print "null").
  const fill = (el, ...children) => el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));

  // A model's MACs; nodes whose shapes depend on free input dims are not counted, so the
  // figure is then a lower bound and says so.
  const macs = (m, long) => {
    if (!m.macs_unknown_nodes) return fmt.count(m.macs);
    return long ? `at least ${fmt.count(m.macs)} (${m.macs_unknown_nodes} nodes not counted: their shapes depend on free input dims)`
      : `≥ ${fmt.count(m.macs)}`;
  };

  const badge = (s) => h('span', { class: `badge ${s || ''}` }, s || '—');
  const table = (head, rows, numeric = []) =>
    h('div', { class: 'table-wrap' },
      h('table', {}, h('thead', {}, h('tr', {}, head.map((c, i) => h('th', { class: numeric.includes(i) ? 'num' : null, scope: 'col' }, c)))),
        h('tbody', {}, rows)));
  const row = (cells, numeric = []) => h('tr', {}, cells.map((c, i) => h('td', { class: numeric.includes(i) ? 'num' : null }, c)));

  // A problem+json answer as the user sees it: title, detail, and the stable type slug.
  function problemBox(err) {
    if (err instanceof Api.ApiError) {
      const p = err.problem || {};
      return h('div', { class: 'problem', role: 'alert' }, h('strong', {}, p.title || err.message),
        p.detail ? h('span', {}, p.detail) : null, p.type ? h('div', { class: 'muted mono' }, p.type) : null);
    }
    return h('div', { class: 'problem', role: 'alert' }, h('strong', {}, err.message || String(err)));
  }

  // A file picker with drag and drop, a progress bar of bytes sent and a cancel button.
  function uploader({ label, accept, path, onDone, hint }) {
    const status = h('div', { 'aria-live': 'polite' });
    const input = h('input', { type: 'file', id: `file-${label.replace(/\W+/g, '-')}`, accept });
    const zone = h('div', { class: 'dropzone' },
      h('label', { for: input.id }, label), ' ', input, hint ? h('p', { class: 'muted' }, hint) : null, status);
    function send(file) {
      status.replaceChildren();
      const bar = h('progress', { max: file.size || 1, value: 0, 'aria-label': 'bytes sent' });
      const text = h('span', { class: 'muted' }, `0 / ${fmt.bytes(file.size)}`);
      const job = Api.upload(path(file), file, (sent, total) => {
        bar.max = total || 1;
        bar.value = sent;
        text.textContent = `${fmt.bytes(sent)} / ${fmt.bytes(total)}`;
      });
      const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => job.abort() }, 'Cancel upload');
      status.append(h('div', { class: 'progress-row' }, bar, text, cancel));
      job.promise.then((body) => { status.replaceChildren(h('p', {}, 'Uploaded.')); onDone(body); })
        .catch((err) => {
          status.replaceChildren(err.name === 'AbortError' ? h('p', { class: 'muted' }, 'Upload cancelled.') : problemBox(err));
        });
    }
    input.addEventListener('change', () => { if (input.files[0]) send(input.files[0]); });
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      if (e.dataTransfer.files[0]) send(e.dataTransfer.files[0]);
    });
    return zone;
  }

  // ---- Models ----
  async function models(main) {
    const list = h('div', {}, h('p', { class: 'muted' }, 'Loading models…'));
    fill(main, h('h1', {}, 'Models'),
      uploader({
        label: 'Upload an ONNX model', accept: '.onnx', hint: 'Drop a .onnx file here, or choose one.',
        path: (f) => `/v1/models?name=${encodeURIComponent(f.name.replace(/\.onnx$/i, '').slice(0, 200))}`,
        onDone: (m) => { location.hash = `#/models/${m.id}`; },
      }), h('h2', {}, 'Uploaded models'), list);
    const items = await Api.all('/v1/models');
    if (!items.length) { list.replaceChildren(h('p', { class: 'muted' }, 'No models yet.')); return; }
    list.replaceChildren(table(['Name', 'Size', 'Opset', 'Parameters', 'MACs', 'Uploaded'],
      items.map((m) => row([h('a', { href: `#/models/${m.id}` }, m.name || fmt.short(m.id)), fmt.bytes(m.size_bytes),
        (m.opset_imports && (m.opset_imports['ai.onnx'] ?? m.opset_imports[''])) ?? '—', fmt.count(m.parameter_count),
        macs(m, false), fmt.time(m.created_at)], [1, 2, 3, 4])), [1, 2, 3, 4]));
  }

  // ---- One model: census, target verdicts, calibration, new job ----
  async function model(main, { id }) {
    const [m, targets] = await Promise.all([Api.get(`/v1/models/${id}`), Api.get(`/v1/targets?model_id=${id}`)]);
    const census = Object.entries(m.op_census || {}).sort((a, b) => b[1] - a[1]);
    const calibrations = h('div', {});
    const variants = h('div', {});
    fill(main, 
      h('h1', {}, m.name || m.id),
      h('dl', { class: 'kv' }, h('dt', {}, 'sha256'), h('dd', { class: 'mono' }, m.id), h('dt', {}, 'size'), h('dd', {}, fmt.bytes(m.size_bytes)),
        h('dt', {}, 'parameters'), h('dd', {}, fmt.count(m.parameter_count)), h('dt', {}, 'MACs'), h('dd', {}, macs(m, true)),
        h('dt', {}, 'inputs'), h('dd', { class: 'mono' }, (m.inputs || []).map((i) => `${i.name} ${i.dtype} [${i.shape.join(', ')}]`).join('; ')),
        h('dt', {}, 'outputs'), h('dd', { class: 'mono' }, (m.outputs || []).map((i) => `${i.name} ${i.dtype} [${i.shape.join(', ')}]`).join('; '))),
      h('div', { class: 'actions' }, h('a', { href: `#/compare/${id}` }, 'Compare this model\u2019s variants')),
      h('h2', {}, 'Targets'),
      table(['Target', 'Hardware', 'Verdict', 'Detail'], targets.items.map((t) => {
        const s = t.support || {};
        const falls = Object.keys(s.fallback_ops || {}), bad = Object.keys(s.unsupported_ops || {});
        return row([t.id, h('span', { class: 'hide-narrow' }, t.hardware), badge(s.verdict),
          [s.summary || '', falls.length ? h('div', { class: 'muted' }, 'falls back: ' + falls.join(', ')) : null,
            bad.length ? h('div', { class: 'reason' }, 'cannot run: ' + bad.join(', ')) : null]]);
      })),
      h('h2', {}, 'New job'), jobForm(m, targets.items),
      h('h2', {}, 'Calibration sets'), calibrations,
      uploader({
        label: 'Upload a calibration set (.npy or .npz)', accept: '.npy,.npz',
        path: (f) => `/v1/models/${id}/calibration?name=${encodeURIComponent(f.name)}`,
        onDone: () => loadCalibrations(),
      }),
      h('h2', {}, 'Variants'), variants,
      h('h2', {}, 'Operators'), table(['Op', 'Nodes'], census.map(([op, n]) => row([op, n], [1])), [1]));
    async function loadCalibrations() {
      const c = await Api.get(`/v1/models/${id}/calibration`);
      calibrations.replaceChildren(c.items.length
        ? table(['Id', 'Samples', 'Uploaded'], c.items.map((s) => row([h('span', { class: 'mono' }, s.id), s.samples ?? s.sample_count ?? '—', fmt.time(s.created_at)])))
        : h('p', { class: 'muted' }, 'None: INT8 variants calibrate on synthetic inputs and say so.'));
    }
    const vs = await Api.all(`/v1/variants?model_id=${id}`);
    variants.replaceChildren(vs.length ? variantTable(vs) : h('p', { class: 'muted' }, 'No variants yet.'));
    await loadCalibrations();
  }

  function variantTable(vs) {
    return table(['Variant', 'Target', 'Precision', 'State', 'Validation', 'Size'], vs.map((v) => row([
      v.state === 'succeeded' ? h('a', { href: `#/variants/${v.id}` }, fmt.short(v.id)) : h('span', { class: 'mono' }, fmt.short(v.id)),
      v.target, v.precision, badge(v.state), v.validation ? badge(v.validation) : '—',
      v.artifact ? fmt.bytes(v.artifact.size_bytes) : '—'], [5])), [5]);
  }

  // Targets and precisions from the registry, greyed out with the reason where the model cannot
  // run; options with the API's documented defaults.
  function jobForm(m, targets) {
    const error = h('div', {});
    const fieldsets = targets.map((t) => {
      const verdict = (t.support || {}).verdict;
      const unavailable = verdict === 'unsupported';
      const reason = unavailable ? 'cannot run: ' + Object.keys(t.support.unsupported_ops || {}).join(', ') : null;
      return h('fieldset', { class: unavailable ? 'unavailable' : null, disabled: unavailable },
        h('legend', {}, t.id), reason ? h('span', { class: 'reason' }, reason) : null,
        t.precisions.map((p) => h('label', { class: 'check' },
          h('input', { type: 'checkbox', name: 'variant', value: `${t.id}/${p}`, 'data-target': t.id, 'data-precision': p }), ' ', p)));
    });
    const opt = (name, labelText, control) => h('div', {}, h('label', { for: `opt-${name}` }, labelText), control);
    const form = h('form', { id: 'job-form', novalidate: true },
      fieldsets,
      h('div', { class: 'form-grid' },
        opt('calibration_method', 'Calibration method', h('select', { id: 'opt-calibration_method' },
          ['percentile', 'minmax', 'entropy', 'mse', 'auto'].map((x) => h('option', { value: x }, x)))),
        opt('percentile', 'Percentile', h('input', { id: 'opt-percentile', type: 'number', step: '0.01', min: '50.01', max: '100', value: '99.99' })),
        opt('calibration_samples', 'Calibration samples', h('input', { id: 'opt-calibration_samples', type: 'number', min: '1', max: '4096', value: '32' })),
        opt('bias_correction', 'Bias correction', h('select', { id: 'opt-bias_correction' },
          [['auto', 'auto'], ['true', 'on'], ['false', 'off']].map(([v, t]) => h('option', { value: v }, t)))),
        opt('accuracy_budget', 'Accuracy budget', h('select', { id: 'opt-accuracy_budget' },
          h('option', { value: 'default' }, 'default (on with a calibration set)'), h('option', { value: 'off' }, 'off'))),
        h('div', {}, h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'opt-synthetic_calibration' }), ' synthetic calibration'))),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Start job')), error);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.replaceChildren();
      const picked = [...form.querySelectorAll('input[name=variant]:checked')];
      if (!picked.length) { error.append(h('div', { class: 'problem', role: 'alert' }, h('strong', {}, 'Choose at least one target and precision.'))); return; }
      // Explicit pairs: the boxes ticked need not be a cross product of targets and precisions.
      const variants = picked.map((i) => i.value);
      const options = {};
      const val = (n) => form.querySelector(`#opt-${n}`);
      if (val('calibration_method').value !== 'percentile') options.calibration_method = val('calibration_method').value;
      if (Number(val('percentile').value) !== 99.99) options.percentile = Number(val('percentile').value);
      if (Number(val('calibration_samples').value) !== 32) options.calibration_samples = Number(val('calibration_samples').value);
      if (val('bias_correction').value !== 'auto') options.bias_correction = val('bias_correction').value === 'true';
      if (val('accuracy_budget').value === 'off') options.accuracy_budget = 'off';
      if (val('synthetic_calibration').checked) options.synthetic_calibration = true;
      try {
        const job = await Api.post('/v1/jobs', { model_id: m.id, variants, options });
        location.hash = `#/jobs/${job.id}`;
      } catch (err) { error.append(problemBox(err)); }
    });
    return form;
  }

  // ---- Jobs ----
  async function jobs(main) {
    const holder = h('div', {}, h('p', { class: 'muted' }, 'Loading jobs…'));
    fill(main, h('h1', {}, 'Jobs'), holder);
    const items = await Api.all('/v1/jobs', 1000);
    if (!items.length) { holder.replaceChildren(h('p', { class: 'muted' }, 'No jobs yet.')); return; }
    holder.replaceChildren(table(['Job', 'State', 'Stage', 'Progress', 'Variants', 'Created'], items.map((j) => row([
      h('a', { href: `#/jobs/${j.id}` }, fmt.short(j.id)), badge(j.state), j.stage,
      h('progress', { max: 1, value: j.progress ?? 0, 'aria-label': `progress of ${j.id}` }), (j.variants || []).length,
      fmt.time(j.created_at)], [4])), [4]));
  }

  const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

  // ---- One job, live: one long poll in flight, ETag + ?wait=, reconnecting on its own ----
  async function job(main, { id }, signal, setConnection) {
    const view = h('div', {});
    fill(main, view);
    let etag = null, current = null, delay = 1000;
    const render = (j) => {
      const cancel = h('button', { type: 'button', class: 'secondary', disabled: TERMINAL.has(j.state) || j.cancel_requested,
        onclick: async () => { try { await Api.post(`/v1/jobs/${id}/cancel`, {}); } catch (err) { view.append(problemBox(err)); } } },
      j.cancel_requested && !TERMINAL.has(j.state) ? 'Cancelling…' : 'Cancel job');
      fill(view, 
        h('h1', {}, 'Job ', h('span', { class: 'mono' }, j.id)),
        h('dl', { class: 'kv' }, h('dt', {}, 'state'), h('dd', {}, badge(j.state)), h('dt', {}, 'stage'), h('dd', { id: 'job-stage' }, j.stage),
          h('dt', {}, 'model'), h('dd', {}, h('a', { href: `#/models/${j.model_id}` }, fmt.short(j.model_id))),
          h('dt', {}, 'attempts'), h('dd', {}, j.attempts), h('dt', {}, 'created'), h('dd', {}, fmt.time(j.created_at)),
          h('dt', {}, 'finished'), h('dd', {}, fmt.time(j.finished_at))),
        h('div', { class: 'progress-row' }, h('progress', { id: 'job-progress', max: 1, value: j.progress ?? 0, 'aria-label': 'job progress' }),
          h('span', {}, `${Math.round((j.progress ?? 0) * 100)} %`), cancel),
        j.error ? problemBox(new Api.ApiError(0, j.error)) : null,
        h('h2', {}, 'Variants'), variantTable(j.variants || []),
        (j.variants || []).filter((v) => v.error).map((v) => h('div', {}, h('p', {}, `${v.target} ${v.precision}:`), problemBox(new Api.ApiError(0, v.error)))));
      view.dataset.state = j.state;
    };
    while (!signal.aborted) {
      try {
        const answer = await Api.pollJob(id, etag, 25, signal);
        setConnection(true);
        delay = 1000;
        if (answer) { current = answer.job; etag = answer.etag; render(current); }
        if (current && TERMINAL.has(current.state)) return;
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (!(err instanceof Api.NetworkError) && err.status !== 503 && err.status !== 502) { fill(view, problemBox(err)); return; }
        setConnection(false);  // "reconnecting": wait, then ask again, backing off to 10 s
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10000);
      }
    }
  }

  // ---- One variant: validation, passes, quantization, benchmarks, sizes, download ----
  async function variant(main, { id }) {
    const v = await Api.get(`/v1/variants/${id}`);
    const r = v.report || {};
    const val = r.validation || {};
    const q = r.quantization || null;
    const downloadStatus = h('div', { 'aria-live': 'polite' });
    const download = h('button', { type: 'button', id: 'download', onclick: async () => {
      downloadStatus.replaceChildren();
      try {
        const link = await Api.get(`/v1/variants/${id}/download`);
        const a = h('a', { href: link.url, download: link.file_name });
        document.body.append(a);
        a.click();
        a.remove();
        downloadStatus.replaceChildren(h('p', { class: 'muted' }, `${link.file_name}, ${fmt.bytes(link.size_bytes)}, sha256 `,
          h('span', { class: 'mono', id: 'download-sha256' }, link.sha256), `; link valid until ${fmt.time(link.expires_at)}`));
      } catch (err) { downloadStatus.replaceChildren(problemBox(err)); }
    } }, 'Download bundle');
    const th = val.thresholds || {};
    const outputs = val.outputs || [];
    fill(main, 
      h('h1', {}, `${v.target} ${v.precision}`),
      h('dl', { class: 'kv' }, h('dt', {}, 'variant'), h('dd', { class: 'mono' }, v.id), h('dt', {}, 'state'), h('dd', {}, badge(v.state)),
        h('dt', {}, 'validation'), h('dd', {}, badge(v.validation)), h('dt', {}, 'job'), h('dd', {}, h('a', { href: `#/jobs/${v.job_id}` }, v.job_id)),
        h('dt', {}, 'model'), h('dd', {}, h('a', { href: `#/models/${v.model_id}` }, fmt.short(v.model_id))),
        h('dt', {}, 'size'), h('dd', {}, `source model ${fmt.bytes(r.source_model && r.source_model.bytes)} → variant model ${fmt.bytes(r.model_bytes)}; bundle ${fmt.bytes(v.artifact && v.artifact.size_bytes)}`)),
      h('div', { class: 'actions' }, download), downloadStatus,
      q && q.warning ? h('div', { class: 'notice' }, q.warning.replace(/\*\*/g, '')) : null,
      h('h2', {}, 'Validation'),
      h('p', { class: 'muted' }, `${val.samples ?? '—'} samples (${val.inputs || '—'} inputs) on ${val.engine || '—'}; validated at SQNR ≥ ${th.validated_sqnr_db ?? '—'} dB, degraded at ≥ ${th.degraded_sqnr_db ?? '—'} dB. ${val.reason || ''}`),
      outputs.length ? table(['Output', 'SQNR dB', 'Cosine', 'Top-1 agreement', 'Top-5 agreement', 'Max abs err'], outputs.map((o) => row([
        o.name, fmt.num(o.sqnr_db, 2), fmt.num(o.cosine, 6), o.top1_agreement !== undefined ? fmt.num(o.top1_agreement, 4) : '—',
        o.top5_agreement !== undefined ? fmt.num(o.top5_agreement, 4) : '—', fmt.num(o.max_abs_err, 6)], [1, 2, 3, 4, 5])), [1, 2, 3, 4, 5])
        : h('p', { class: 'muted' }, 'No per-output figures.'),
      h('h2', {}, 'Passes'),
      table(['Pass', 'Changes', 'ms'], (r.passes || []).map((p) => row([p.name,
        Object.entries(p.changes || {}).map(([k, n]) => `${k} ${n}`).join(', ') || 'none', fmt.ms(p.millis)], [2])), [2]),
      q ? [h('h2', {}, 'Quantization'), h('dl', { class: 'kv' },
        h('dt', {}, 'method'), h('dd', {}, q.method || '—'), h('dt', {}, 'scheme'), h('dd', {}, q.scheme || '—'),
        h('dt', {}, 'calibration'), h('dd', {}, q.calibration ? `${q.calibration.samples} samples, ${q.calibration.source}` : '—'),
        h('dt', {}, 'accuracy budget'), h('dd', {}, q.accuracy ? (q.accuracy.why || JSON.stringify(q.accuracy.budget)) : '—')),
      q.ranges ? h('details', {}, h('summary', {}, 'Quantization ranges'), h('pre', { class: 'mono' }, JSON.stringify(q.ranges, null, 1))) : null] : null,
      h('h2', {}, 'Benchmarks'),
      (v.benchmarks || []).length ? table(['Origin', 'Subject', 'Host', 'Threads', 'p50 ms', 'p90 ms', 'p99 ms', 'per s'], v.benchmarks.map((b) => row([
        b.origin, b.subject, b.host, b.threads ?? '—', fmt.ms(b.p50_ms), fmt.ms(b.p90_ms), fmt.ms(b.p99_ms), fmt.num(b.throughput_per_s, 1)],
      [3, 4, 5, 6, 7])), [3, 4, 5, 6, 7]) : h('p', { class: 'muted' }, 'Not benchmarked (the target is not this host\u2019s hardware).'));
  }

  // ---- Compare a model's variants ----
  async function compare(main, { id }) {
    const objective = h('select', { id: 'objective' }, h('option', { value: 'latency' }, 'lowest latency'), h('option', { value: 'throughput' }, 'highest throughput'));
    const budget = h('input', { id: 'budget', type: 'number', min: '0', max: '1', step: '0.005', value: '0.01' });
    const recommendation = h('p', { class: 'recommendation', 'aria-live': 'polite' });
    const scatterCanvas = h('canvas', { id: 'scatter', role: 'img', 'aria-label': 'latency against accuracy drop, one point per variant' });
    const barCanvas = h('canvas', { id: 'bars', role: 'img', 'aria-label': 'bundle size and latency per variant' });
    const note = h('div', {});
    fill(main, h('h1', {}, 'Compare variants'),
      h('p', {}, h('a', { href: `#/models/${id}` }, 'back to the model')),
      h('div', { class: 'form-grid' }, h('div', {}, h('label', { for: 'objective' }, 'Objective'), objective),
        h('div', {}, h('label', { for: 'budget' }, 'Largest accuracy drop'), budget)),
      recommendation, note,
      h('div', { class: 'charts' }, h('div', { class: 'chart-box' }, scatterCanvas), h('div', { class: 'chart-box' }, barCanvas)));
    const [all, vs] = await Promise.all([Api.get(`/v1/models/${id}/recommendation?max_accuracy_drop=1`), Api.all(`/v1/variants?model_id=${id}`)]);
    const size = new Map(vs.map((v) => [v.id, v.artifact ? v.artifact.size_bytes : 0]));
    const points = all.ranked.map((r) => ({ id: r.variant_id, target: r.target, precision: r.precision, x: r.figure.p50_ms, y: r.accuracy_drop,
      origin: r.figure.origin, sizeMb: (size.get(r.variant_id) || 0) / 1e6 }));
    if (all.unmeasured.length) note.append(h('p', { class: 'muted' }, `${all.unmeasured.length} built variant(s) have no benchmark yet and are not plotted (their target is not this host; \`aifgen loadgen --report-to\` adds field figures).`));
    if (!points.length) { note.append(h('p', { class: 'muted' }, 'No benchmarked variants yet.')); return; }
    let chart = null;
    async function recommend() {
      const q = `objective=${objective.value}&max_accuracy_drop=${encodeURIComponent(budget.value || '1')}`;
      try {
        const rec = await Api.get(`/v1/models/${id}/recommendation?${q}`);
        const best = rec.ranked[0];
        recommendation.textContent = best
          ? `Recommended: ${best.target} ${best.precision} (${rec.objective === 'latency' ? fmt.ms(best.value) + ' ms p50' : fmt.num(best.value, 1) + ' per s'}, accuracy drop ${fmt.num(best.accuracy_drop)}, ${best.figure.origin} figure)`
          : 'No variant meets this budget.';
        Charts.destroyAll();
        chart = Charts.scatter(scatterCanvas, points, best ? best.variant_id : null);
        Charts.bars(barCanvas, points);
        main.dataset.points = String(chart.data.datasets[0].data.length);
      } catch (err) { recommendation.replaceChildren(problemBox(err)); }
    }
    objective.addEventListener('change', recommend);
    budget.addEventListener('change', recommend);
    await recommend();
  }

  return { h, problemBox, models, model, jobs, job, variant, compare };
})();
