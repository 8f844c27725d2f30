// Hash routing (#/models, #/models/ID, #/jobs, #/jobs/ID, #/variants/ID, #/compare/MODEL), the
// API key dialog and the connection indicator. Leaving a page aborts its requests.
'use strict';

(() => {
  const main = document.getElementById('main');
  const connection = document.getElementById('connection');
  const keyDialog = document.getElementById('key-dialog');
  const keyButton = document.getElementById('key-button');
  let controller = null;

  const routes = [
    [/^#\/models\/?$/, Views.models, 'models'],
    [/^#\/models\/([0-9a-f]{64})$/, (m, p, s) => Views.model(m, p, s), 'models', ['id']],
    [/^#\/jobs\/?$/, Views.jobs, 'jobs'],
    [/^#\/jobs\/([\w-]+)$/, Views.job, 'jobs', ['id']],
    [/^#\/variants\/([\w-]+)$/, Views.variant, 'models', ['id']],
    [/^#\/compare\/([0-9a-f]{64})$/, Views.compare, 'models', ['id']],
  ];

  function setConnection(ok) {
    connection.textContent = ok ? '' : 'Connection lost: reconnecting…';
    connection.classList.toggle('lost', !ok);
  }
  Api.onConnection = setConnection;

  // The skip link moves focus to the page's content; as a plain #main link it would change the
  // hash, which is the router's.
  document.querySelector('.skip').addEventListener('click', (e) => { e.preventDefault(); main.focus(); });

  function askForKey(problem) {
    keyButton.hidden = false;
    document.getElementById('key-reason').textContent = (problem && problem.detail ? problem.detail + '. ' : '') +
      'Enter an API key (from `aifgen keys create`); it is kept for this tab only.';
    if (!keyDialog.open) keyDialog.showModal();
  }
  Api.onUnauthorized = askForKey;
  keyButton.addEventListener('click', () => askForKey(null));
  keyDialog.addEventListener('close', () => {
    if (keyDialog.returnValue !== 'save') return;
    Api.setKey(document.getElementById('key-input').value.trim());
    document.getElementById('key-input').value = '';
    route();
  });

  async function route() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const hash = location.hash || '#/models';
    for (const [pattern, view, section, names] of routes) {
      const m = hash.match(pattern);
      if (!m) continue;
      const params = {};
      (names || []).forEach((n, i) => { params[n] = m[i + 1]; });
      for (const a of document.querySelectorAll('nav a')) a.classList.toggle('current', a.dataset.nav === section);
      Charts.destroyAll();
      main.dataset.view = section;
      main.replaceChildren(Views.h('p', { class: 'muted' }, 'Loading…'));
      try {
        await view(main, params, signal, setConnection);
      } catch (err) {
        if (err.name === 'AbortError' || signal.aborted) return;
        // A 401 has already opened the key dialog; the page behind it says what is awaited.
        if (err.status === 401) main.replaceChildren(Views.h('h1', {}, 'API key needed'), Views.h('p', { class: 'muted' }, 'This service needs an API key; the page loads once one is entered.'));
        else main.replaceChildren(Views.h('h1', {}, 'Something went wrong'), Views.problemBox(err));
      }
      return;
    }
    main.replaceChildren(Views.h('h1', {}, 'Not found'), Views.h('p', {}, 'No page at ', Views.h('span', { class: 'mono' }, hash), '.'));
  }

  window.addEventListener('hashchange', route);
  route();
})();
