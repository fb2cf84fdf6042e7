'use strict';
// The reference the benchmark measures livedash against: the plainest fast SSE broadcaster,
// node:http and a Set of clients, with one res.write per client per event. It sends frames
// of the same shape and size as livedash's metric cards, so both servers move the same bytes
// to the same load client. No npm packages. PORT and HEARTBEAT_SECONDS come from the
// environment; the heartbeat is there so both servers send the same kinds of traffic.

const http = require('node:http');

const clients = new Set();
const previous = new Map();
const epoch = Date.now();
let seq = 0;

const escapes = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => escapes[c]);

// The same helpers as app/streaming/render.py, for the values the benchmark sends (integers);
// `${value}` is JavaScript's shortest repr, like raw_number.
const label = (name) => {
  const text = name.replace(/[-_.]+/g, ' ').trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
};
const pretty = (v) => (Number.isInteger(v) ? v.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',') : v.toFixed(2));

function card(name, value, ts, trend) {
  const iso = new Date(ts).toISOString().replace('Z', '+00:00');
  const n = escape(name);
  return (
    `<article id="metric-${n}" class="card" data-trend="${trend}"\n` +
    `         sse-swap="metric-${n}" hx-swap="outerHTML">\n` +
    `  <h3 class="card__label">${escape(label(name))}</h3>\n` +
    `  <p class="card__value" data-value="${value}">${pretty(value)}</p>\n` +
    `  <p class="card__meta">\n` +
    `    <span class="card__trend" aria-label="trend ${trend}"></span>\n` +
    `    <time datetime="${iso}">${iso.slice(11, 19)}</time>\n` +
    `  </p>\n` +
    `</article>`
  );
}

function frame(event, id, data) {
  return `event: ${event}\nid: ${id}\n` + data.split('\n').map((line) => `data: ${line}\n`).join('') + '\n';
}

function broadcast(chunk) {
  for (const res of clients) res.write(chunk);
}

function lastId() {
  return `${epoch}-${seq}`;
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function publish(req, res) {
  const parts = [];
  req.on('data', (part) => parts.push(part));
  req.on('end', () => {
    let points;
    try {
      points = JSON.parse(Buffer.concat(parts).toString('utf8'));
      if (!Array.isArray(points) || points.length === 0) throw new Error('expected a list of points');
    } catch (err) {
      json(res, 400, { status_code: 400, detail: String(err.message) });
      return;
    }
    const now = Date.now();
    for (const { name, value } of points) {
      const before = previous.get(name);
      const trend = before === undefined || before === value ? 'flat' : value > before ? 'up' : 'down';
      previous.set(name, value);
      seq += 1;
      broadcast(frame(`metric-${name}`, lastId(), card(name, value, now, trend)));
    }
    json(res, 202, { accepted: points.length, last_id: lastId() });
  });
}

function stream(req, res) {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-store, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n: ok\n\n');
  clients.add(res);
  res.on('close', () => clients.delete(res));
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/stream') stream(req, res);
  else if (req.method === 'POST' && path === '/publish') publish(req, res);
  else if (req.method === 'GET' && path === '/healthz') json(res, 200, { status: 'ok', last_id: lastId(), streams: clients.size });
  else json(res, 404, { status_code: 404, detail: 'not found' });
});

const heartbeatMs = Number(process.env.HEARTBEAT_SECONDS || 15) * 1000;
const heartbeat = setInterval(() => broadcast(frame('heartbeat', lastId(), (Date.now() / 1000).toFixed(3))), heartbeatMs);

function stop() {
  clearInterval(heartbeat);
  for (const res of clients) res.end();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// A backlog as deep as the kernel allows (somaxconn): thousands of clients connect at once.
server.listen({ host: '127.0.0.1', port: Number(process.env.PORT || 8001), backlog: 4096 }, () => {
  console.log(`reference broadcaster on http://127.0.0.1:${server.address().port}`);
});
