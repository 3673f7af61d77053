'use strict';
// Loads the server's /docs page in jsdom the way a browser would (its script runs and
// fetches /openapi.json from the same server), waits until the page says it is ready
// (<body data-state="ready">) and checks that it shows one endpoint section per
// operation of /openapi.json and the document's title.
//
//   node docs_render.js http://127.0.0.1:PORT
//
// Exits 0 when the page rendered as expected, 1 (saying why) otherwise.
const { JSDOM, VirtualConsole } = require('jsdom');

const BASE = process.argv[2];
if (!BASE) {
  console.error('usage: node docs_render.js http://127.0.0.1:PORT');
  process.exit(2);
}
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const TIMEOUT_MS = 30000;

function fail(why) {
  console.error(`docs_render: FAIL: ${why}`);
  process.exit(1);
}

async function main() {
  const specRes = await fetch(new URL('/openapi.json', BASE));
  if (specRes.status !== 200) fail(`GET /openapi.json answered ${specRes.status}`);
  const spec = await specRes.json();
  let operations = 0;
  for (const item of Object.values(spec.paths || {}))
    for (const key of Object.keys(item)) if (METHODS.includes(key)) operations += 1;
  if (operations === 0) fail('/openapi.json has no operations');

  const pageUrl = new URL('/docs', BASE).href;
  const pageRes = await fetch(pageUrl);
  if (pageRes.status !== 200) fail(`GET /docs answered ${pageRes.status}`);
  const contentType = pageRes.headers.get('content-type') || '';
  if (!contentType.startsWith('text/html')) fail(`GET /docs is ${contentType}, not text/html`);
  const html = await pageRes.text();

  const pageErrors = [];
  const virtualConsole = new VirtualConsole();
  virtualConsole.sendTo(console, { omitJSDOMErrors: true });
  virtualConsole.on('jsdomError', (e) => pageErrors.push(e.stack || String(e)));

  const dom = new JSDOM(html, {
    url: pageUrl,
    runScripts: 'dangerously',
    resources: 'usable',
    pretendToBeVisual: true,
    virtualConsole,
    // jsdom has no fetch: the page's fetch('/openapi.json') goes to Node's, resolved
    // against the page's URL as a browser would.
    beforeParse(window) {
      window.fetch = (input, init) => {
        const { cache, ...rest } = init || {}; // a cache mode means nothing to Node's fetch
        return fetch(new URL(String(input), pageUrl), rest);
      };
    },
  });
  const { document } = dom.window;

  const deadline = Date.now() + TIMEOUT_MS;
  while (document.body.dataset.state !== 'ready') {
    if (document.body.dataset.state === 'error') {
      const status = document.getElementById('status');
      fail(`the page could not load the API description: ${status ? status.textContent : '?'}\n${pageErrors.join('\n')}`);
    }
    if (Date.now() > deadline)
      fail(`the page was not ready within ${TIMEOUT_MS / 1000} s (state: ${document.body.dataset.state})\n${pageErrors.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const sections = document.querySelectorAll('#endpoints > section.endpoint').length;
  const title = document.title;
  console.log(`docs_render: ${sections} endpoint sections, ${operations} operations in /openapi.json, title "${title}"`);
  if (pageErrors.length) fail(`the page's script failed:\n${pageErrors.join('\n')}`);
  if (sections !== operations) fail(`${sections} endpoint sections for ${operations} operations`);
  if (title !== 'voxbridge control API') fail(`the title is "${title}"`);
  dom.window.close();
  console.log('docs_render: ok');
  process.exit(0);  // not waiting for idle keep-alive connections
}

main().catch((e) => fail(e.stack || String(e)));
