// The dashboard's only way to the service: the documented /v1 routes, with the tab's API key.
'use strict';

const Api = (() => {
  const KEY = 'aifgen.apiKey';  // sessionStorage: the key lives as long as the tab

  // An answer that is not 2xx/304: the problem+json body's fields, or what the status says.
  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.title || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }
  // The service could not be reached at all (connection refused, reset, offline).
  class NetworkError extends Error {}

  let onUnauthorized = () => {};
  let onConnection = () => {};

  function key() { return sessionStorage.getItem(KEY) || ''; }
  function setKey(k) { if (k) sessionStorage.setItem(KEY, k); else sessionStorage.removeItem(KEY); }

  function authHeaders(extra) {
    const h = Object.assign({}, extra || {});
    if (key()) h.Authorization = 'Bearer ' + key();
    return h;
  }

  async function problemOf(resp) {
    const type = resp.headers.get('Content-Type') || '';
    if (type.includes('json')) {
      try { return await resp.json(); } catch (e) { /* fall through */ }
    }
    return { title: `HTTP ${resp.status} ${resp.statusText}`, status: resp.status };
  }

  // fetch with the key; throws ApiError for error statuses (401 also asks for a key) and
  // NetworkError when the service cannot be reached. 304 is an answer, not an error.
  async function request(method, path, opts = {}) {
    let resp;
    try {
      resp = await fetch(path, { method, headers: authHeaders(opts.headers), body: opts.body, signal: opts.signal, cache: 'no-store' });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      onConnection(false);
      throw new NetworkError(`cannot reach the service (${e.message})`);
    }
    onConnection(true);
    if (resp.ok || resp.status === 304) return resp;
    const problem = await problemOf(resp);
    if (resp.status === 401) onUnauthorized(problem);
    throw new ApiError(resp.status, problem);
  }

  // The body of an answer. A connection that drops after the headers (the service killed while
  // it answers) fails here, not in fetch: that too is "cannot reach the service".
  async function json(resp) {
    try {
      return await resp.json();
    } catch (e) {
      if (e.name === 'AbortError' || e instanceof SyntaxError) throw e;
      onConnection(false);
      throw new NetworkError(`the connection dropped mid-answer (${e.message})`);
    }
  }

  async function get(path, opts) { return json(await request('GET', path, opts)); }

  async function post(path, body) {
    const resp = await request('POST', path, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return resp.status === 204 ? null : json(resp);
  }

  // Every page of a paged listing (limit/offset), up to `max` items.
  async function all(path, max = 5000) {
    const items = [];
    for (let offset = 0; items.length < max; ) {
      const sep = path.includes('?') ? '&' : '?';
      const page = await get(`${path}${sep}limit=1000&offset=${offset}`);
      items.push(...page.items);
      if (page.items.length < 1000) break;
      offset += page.items.length;
    }
    return items;
  }

  // A file sent as the raw body, with progress: XMLHttpRequest, since fetch reports no upload
  // progress. Returns { promise, abort }; the promise resolves to the JSON answer.
  function upload(path, file, onProgress) {
    const xhr = new XMLHttpRequest();
    const promise = new Promise((resolve, reject) => {
      xhr.open('POST', path);
      for (const [k, v] of Object.entries(authHeaders({ 'Content-Type': 'application/octet-stream' }))) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        onConnection(true);
        if (xhr.status >= 200 && xhr.status < 300) { resolve(body); return; }
        const problem = body && typeof body === 'object' ? body : { title: `HTTP ${xhr.status}` };
        if (xhr.status === 401) onUnauthorized(problem);
        reject(new ApiError(xhr.status, problem));
      };
      xhr.onerror = () => { onConnection(false); reject(new NetworkError('the upload lost its connection')); };
      xhr.onabort = () => { const e = new Error('upload cancelled'); e.name = 'AbortError'; reject(e); };
      xhr.send(file);
    });
    return { promise, abort: () => xhr.abort() };
  }

  // One long poll of a job: the job when it differs from `etag` (200), null when it did not
  // change within `waitS` seconds (304).
  async function pollJob(id, etag, waitS, signal) {
    const headers = etag ? { 'If-None-Match': etag } : {};
    const path = `/v1/jobs/${encodeURIComponent(id)}` + (etag ? `?wait=${waitS}` : '');
    const resp = await request('GET', path, { headers, signal });
    if (resp.status === 304) return null;
    return { job: await json(resp), etag: resp.headers.get('ETag') };
  }

  return {
    ApiError, NetworkError, key, setKey, request, get, post, all, upload, pollJob,
    set onUnauthorized(f) { onUnauthorized = f; },
    set onConnection(f) { onConnection = f; },
  };
})();
