// Раздаёт собранный UI и, как nginx в docker-compose, проксирует /admin, /ingester, /query
// на сервисы: браузер видит один origin, CORS не нужен. Без зависимостей — только node:http.
// Запуск: ADMIN_URL=http://127.0.0.1:8000 INGESTER_URL=http://127.0.0.1:8020 QUERY_URL=http://127.0.0.1:8030 \
//         PORT=4200 node e2e/serve.mjs [каталог сборки]
import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(process.argv[2] || path.join(here, '..', 'dist', 'admin-ui', 'browser'));
const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 4200);
const UPSTREAMS = {
  '/admin': process.env.ADMIN_URL || 'http://127.0.0.1:8000',
  '/ingester': process.env.INGESTER_URL || 'http://127.0.0.1:8020',
  '/query': process.env.QUERY_URL || 'http://127.0.0.1:8030',
};
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff', '.svg': 'image/svg+xml', '.png': 'image/png',
};

if (!existsSync(path.join(ROOT, 'index.html'))) {
  console.error(`Нет сборки в ${ROOT}: сначала npm run build`);
  process.exit(1);
}

function proxy(req, res, prefix) {
  const target = new URL(UPSTREAMS[prefix] + req.url.slice(prefix.length));
  const client = target.protocol === 'https:' ? https : http;
  // Потоком в обе стороны: большие загрузки и скачивания не копятся в памяти прокси.
  const upstream = client.request(
    target,
    { method: req.method, headers: { ...req.headers, host: target.host, 'x-forwarded-prefix': prefix } },
    (up) => {
      const headers = { ...up.headers };
      // tus отдаёт адрес загрузки в Location; без префикса браузер пошёл бы мимо прокси.
      if (headers.location) {
        const loc = new URL(headers.location, target);
        if (!loc.pathname.startsWith(prefix + '/')) {
          headers.location = prefix + loc.pathname + loc.search;
        }
      }
      res.writeHead(up.statusCode ?? 502, headers);
      up.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    if (!res.headersSent) {
      res.writeHead(502, { 'Content-Type': 'application/problem+json' });
    }
    res.end(JSON.stringify({ type: 'about:blank', title: 'Bad Gateway', status: 502, code: 'upstream_unavailable', detail: `${prefix}: ${err.message}` }));
  });
  req.pipe(upstream);
}

function serveStatic(req, res) {
  const url = new URL(req.url, 'http://local');
  if (url.pathname === '/config.json') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify({ adminUrl: '/admin', ingesterUrl: '/ingester', queryUrl: '/query' }));
    return;
  }
  let file = path.normalize(path.join(ROOT, decodeURIComponent(url.pathname)));
  // Маршруты SPA (и любые попытки выйти за каталог) получают index.html.
  if (!file.startsWith(ROOT) || !existsSync(file) || statSync(file).isDirectory()) {
    file = path.join(ROOT, 'index.html');
  }
  const isIndex = file.endsWith('index.html');
  res.writeHead(200, {
    'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Cache-Control': isIndex ? 'no-cache' : 'public, max-age=31536000, immutable',
  });
  createReadStream(file).pipe(res);
}

http
  .createServer((req, res) => {
    const prefix = Object.keys(UPSTREAMS).find((p) => req.url === p || req.url.startsWith(p + '/'));
    if (prefix) {
      proxy(req, res, prefix);
    } else {
      serveStatic(req, res);
    }
  })
  .listen(PORT, HOST, () => {
    console.log(`admin-ui: http://${HOST}:${PORT}  (${ROOT})`);
    for (const [prefix, url] of Object.entries(UPSTREAMS)) {
      console.log(`  ${prefix} → ${url}`);
    }
  });
