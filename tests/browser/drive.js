#!/usr/bin/env node
// Drives Debian's Chromium (headless, through playwright-core) for
// tests/integration/test_browser.py: visits the URLs of a job through a proxy and prints
// what the browser saw as one JSON document on stdout. Asserting is pytest's business.
//
// The job is JSON, as the first argument or on stdin:
//   {"proxy": "http://127.0.0.1:PORT",          // every request goes through it
//    "executable": "/usr/bin/chromium",          // optional, this is the default
//    "timeout_ms": 15000,                        // per navigation and per step
//    "deadline_ms": 60000,                       // the whole job; then exit status 3
//    "visits": [{"name": "...", "url": "...",
//                "javascript": true,             // false: a context with JS disabled
//                "screenshot": "/abs/path.png"}]} // optional, taken even when it failed
// The answer:
//   {"browser": "<version>", "visits": [{"name", "url", "ok", "error", "net_error",
//    "status", "final_url", "content_type", "title", "text", "html", "dom",
//    "requests": [{"url", "method", "type", "navigation", "failure"}], "screenshot",
//    "screenshot_error"}]}
// "html" is kept only for pages that loaded (Chromium's own error pages are large).
// Exit status 0 when the job ran (whatever the pages did), 2 when it could not, 3 when
// it ran out of time (Playwright kills the browser it started when this process exits).
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

function readJob() {
  const text = process.argv.length > 2 ? process.argv[2] : fs.readFileSync(0, 'utf8');
  const job = JSON.parse(text);
  if (typeof job.proxy !== 'string' || !Array.isArray(job.visits)) {
    throw new Error('a job needs "proxy" (a URL) and "visits" (a list)');
  }
  return job;
}

// What the DOM holds that could make the browser fetch something or run code.
function inspectDom() {
  const attrs = ['src', 'srcset', 'href', 'action', 'formaction', 'data', 'poster',
    'background', 'ping', 'manifest', 'codebase', 'xlink:href'];
  const refs = [];
  for (const el of document.querySelectorAll('*')) {
    for (const name of attrs) {
      if (el.hasAttribute(name)) {
        refs.push({ tag: el.tagName.toLowerCase(), attr: name, value: el.getAttribute(name) });
      }
    }
  }
  const handlers = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.toLowerCase().startsWith('on')) {
        handlers.push({ tag: el.tagName.toLowerCase(), attr: a.name });
      }
    }
  }
  return {
    scripts: document.querySelectorAll('script').length,
    noscripts: document.querySelectorAll('noscript').length,
    links: [...document.querySelectorAll('link')].map((l) => ({
      rel: l.getAttribute('rel'), href: l.getAttribute('href') })),
    iframes: document.querySelectorAll('iframe, frame, object, embed').length,
    meta_refresh: [...document.querySelectorAll('meta[http-equiv]')]
      .filter((m) => m.getAttribute('http-equiv').toLowerCase() === 'refresh').length,
    styles: [...document.querySelectorAll('style')].map((s) => s.textContent),
    inline_style_attrs: [...document.querySelectorAll('[style]')].map(
      (e) => e.getAttribute('style')),
    refs,
    handlers,
  };
}

async function visit(browser, v, timeout) {
  const out = {
    name: v.name, url: v.url, ok: false, error: null, net_error: null, status: null,
    final_url: null, content_type: null, title: null, text: null, html: null, dom: null,
    requests: [], screenshot: null, screenshot_error: null,
  };
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,                // the tests' self-signed certificate
    javaScriptEnabled: v.javascript !== false,
    serviceWorkers: 'block',
    viewport: { width: 1000, height: 700 },
  });
  try {
    context.setDefaultTimeout(timeout);
    context.setDefaultNavigationTimeout(timeout);
    // Every request the page makes, in order, with how each one ended.
    const byRequest = new Map();
    context.on('request', (r) => {
      const entry = { url: r.url(), method: r.method(), type: r.resourceType(),
        navigation: r.isNavigationRequest(), failure: null };
      byRequest.set(r, entry);
      out.requests.push(entry);
    });
    context.on('requestfailed', (r) => {
      const entry = byRequest.get(r);
      if (entry) entry.failure = (r.failure() || {}).errorText || 'failed';
    });
    const page = await context.newPage();
    try {
      const response = await page.goto(v.url, { waitUntil: 'load', timeout });
      out.ok = true;
      if (response) {
        out.status = response.status();
        out.content_type = (await response.allHeaders())['content-type'] || null;
      }
    } catch (e) {
      out.error = String(e && e.message ? e.message : e).split('\n')[0];
      const m = /net::ERR_[A-Z0-9_]+/.exec(out.error);
      out.net_error = m ? m[0] : null;
    }
    // Read through the DOM (Playwright's utility world works with JavaScript disabled).
    try {
      out.final_url = page.url();
      out.title = await page.title();
      out.text = await page.locator('body').innerText({ timeout });
      if (out.ok) out.html = await page.content();
      out.dom = await page.evaluate(inspectDom);
    } catch (e) {
      out.error = out.error || 'reading the page: ' + String(e && e.message ? e.message : e);
    }
    if (v.screenshot) {
      try {
        fs.mkdirSync(path.dirname(v.screenshot), { recursive: true });
        await page.screenshot({ path: v.screenshot, fullPage: true, timeout });
        out.screenshot = v.screenshot;
      } catch (e) {
        out.screenshot_error = String(e && e.message ? e.message : e).split('\n')[0];
      }
    }
  } finally {
    await context.close().catch(() => {});
  }
  return out;
}

async function main() {
  const job = readJob();
  const timeout = job.timeout_ms || 15000;
  const deadline = job.deadline_ms || 60000;
  const watchdog = setTimeout(() => {
    process.stderr.write('drive.js: the job took longer than ' + deadline + ' ms\n');
    process.exit(3);
  }, deadline);
  watchdog.unref();
  const browser = await chromium.launch({
    executablePath: job.executable || '/usr/bin/chromium',
    headless: true,
    timeout,
    // Everything through the proxy, loopback names included; the tests run as root.
    args: ['--no-sandbox', '--proxy-server=' + job.proxy, '--proxy-bypass-list=<-loopback>'],
  });
  const result = { browser: browser.version(), visits: [] };
  try {
    for (const v of job.visits) result.visits.push(await visit(browser, v, timeout));
  } finally {
    await browser.close().catch(() => {});
  }
  return JSON.stringify(result) + '\n';
}

// Exits only once stdout has taken the whole answer (it may be a pipe).
main().then((answer) => process.stdout.write(answer, () => process.exit(0)), (e) => {
  process.stderr.write('drive.js: ' + (e && e.stack ? e.stack : String(e)) + '\n');
  process.exit(2);
});
