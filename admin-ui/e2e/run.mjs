// Браузерные сценарии панели администратора против живого флота ArtStore.
// Запуск: UI_URL=… ADMIN_USER=… ADMIN_PASSWORD=… SE_URL=… SCREENSHOT_DIR=… node e2e/run.mjs
// Браузер — системный Chromium (Debian): браузеры Playwright не скачиваем.
import { strict as assert } from 'node:assert';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const env = process.env;
const UI_URL = (env.UI_URL || 'http://127.0.0.1:4200').replace(/\/+$/, '');
const ADMIN_USER = env.ADMIN_USER || 'admin';
const ADMIN_PASSWORD = env.ADMIN_PASSWORD || '';
const ADMIN_TOTP_SECRET = env.ADMIN_TOTP_SECRET || '';
const SE_URL = (env.SE_URL || '').replace(/\/+$/, '');
const SCREENSHOT_DIR = path.resolve(env.SCREENSHOT_DIR || path.join(tmpdir(), 'artstore-admin-ui-screenshots'));
const CHROMIUM = env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT = Number(env.E2E_TIMEOUT_MS || 30_000);

// Уникальная «русская» метка прогона: по ней ищем свой файл и свой аккаунт среди чужих данных.
const CYR = 'абвгдежзиклмнопрстуфхцчшэюя';
const MARK = Array.from(randomBytes(8), (b) => CYR[b % CYR.length]).join('');
const FILE_NAME = `отчёт_${MARK}.txt`;
const FILE_BYTES = Buffer.from(`Годовой отчёт бухгалтерии, метка ${MARK}\n${randomBytes(2048).toString('base64')}\n`, 'utf8');
const ACCOUNT_NAME = `e2e-${randomBytes(3).toString('hex')}`;
// Больше порога в 8 МиБ — такой файл панель грузит по tus (возобновляемо), а не multipart.
const BIG_NAME = `архив_${MARK}.bin`;
const BIG_BYTES = randomBytes(9 * 1024 * 1024 + 123);

let browser;
let page;
/** Замеры для отчёта: печатаются в конце прогона одной строкой METRICS. */
const metrics = {};
const pageErrors = [];
const state = { firstSecret: null, fileIds: {} };

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Нет ${CHROMIUM}: установите пакет chromium (apt-get install -y chromium) или задайте CHROMIUM_PATH`);
  assert.ok(ADMIN_PASSWORD, 'Задайте ADMIN_PASSWORD');
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, locale: 'ru-RU' });
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  console.log(`UI ${UI_URL}, метка прогона «${MARK}», снимки в ${SCREENSHOT_DIR}`);
});

after(async () => {
  await browser?.close();
  const bundle = bundleSize();
  if (bundle) {
    metrics.bundle = bundle;
  }
  console.log(`METRICS ${JSON.stringify(metrics)}`);
});

/**
 * Размер production-сборки, из которой раздаётся панель: начальная загрузка — то, что index.html
 * подключает сразу (main, polyfills, styles и их статические чанки по modulepreload), остальное — ленивые чанки.
 */
function bundleSize() {
  const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'admin-ui', 'browser');
  if (!existsSync(path.join(dist, 'index.html'))) {
    return null;
  }
  const index = readFileSync(path.join(dist, 'index.html'), 'utf8');
  const initialNames = new Set([...index.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => m[1]));
  const kib = (n) => Math.round((n / 1024) * 10) / 10;
  let initial = 0;
  let initialGzip = 0;
  let total = 0;
  let totalGzip = 0;
  for (const name of readdirSync(dist)) {
    if (!/\.(js|css)$/.test(name)) {
      continue;
    }
    const data = readFileSync(path.join(dist, name));
    const gz = gzipSync(data, { level: 9 }).length;
    total += statSync(path.join(dist, name)).size;
    totalGzip += gz;
    if (initialNames.has(name)) {
      initial += data.length;
      initialGzip += gz;
    }
  }
  return { initial_kib: kib(initial), initial_gzip_kib: kib(initialGzip), total_js_css_kib: kib(total), total_gzip_kib: kib(totalGzip) };
}

async function shot(name) {
  // Диалоги и меню Material появляются с анимацией: снимаем после её завершения.
  await page.waitForTimeout(400);
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

async function go(route) {
  await page.goto(`${UI_URL}${route}`);
  await page.waitForLoadState('networkidle').catch(() => undefined);
}

/** Ждёт исчезновения полосы загрузки: иначе снимок и проверки ловят промежуточное состояние. */
async function settled() {
  await page.locator('mat-progress-bar.loading-bar').first().waitFor({ state: 'detached', timeout: TIMEOUT }).catch(() => undefined);
}

/** TOTP по RFC 6238 — если у администратора e2e включён второй фактор. */
function totp(base32, now = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of base32.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 30_000)));
  const hmac = createHmac('sha1', key).update(counter).digest();
  const offset = hmac[hmac.length - 1] & 0xf;
  return String((hmac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

test('вход администратора', async () => {
  await go('/login');
  await shot('01-login');
  await page.fill('input[name=username]', ADMIN_USER);
  await page.fill('input[name=password]', ADMIN_PASSWORD);
  await page.click('[data-testid=login-submit]');
  const outcome = await Promise.race([
    page.waitForURL(/\/dashboard/).then(() => 'ok'),
    page.locator('[data-testid=totp]').waitFor().then(() => 'totp'),
    page.locator('[data-testid=login-error]').waitFor().then(() => 'error'),
  ]);
  if (outcome === 'totp') {
    assert.ok(ADMIN_TOTP_SECRET, 'Сервер требует TOTP: задайте ADMIN_TOTP_SECRET (base32)');
    await page.fill('[data-testid=totp]', totp(ADMIN_TOTP_SECRET));
    await page.click('[data-testid=login-submit]');
    await page.waitForURL(/\/dashboard/);
  } else if (outcome === 'error') {
    assert.fail(`Вход отклонён: ${await page.locator('[data-testid=login-error]').innerText()}`);
  }
  await page.locator('[data-testid=user-menu]').waitFor();
});

test('обзор: сводка и элементы', async () => {
  // Холодная загрузка страницы обзора: от начала навигации до карточек сводки с данными реестра.
  await page.goto(`${UI_URL}/dashboard`, { waitUntil: 'commit' });
  await page.waitForFunction(
    () => document.querySelectorAll('[data-testid=summary] mat-card').length >= 4 &&
      !document.querySelector('mat-progress-bar.loading-bar') &&
      document.querySelectorAll('[data-testid=dashboard-elements] mat-card').length > 0,
    null,
    { timeout: TIMEOUT, polling: 'raf' },
  );
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return {
      dashboard_ready_ms: Math.round(performance.now()),
      first_contentful_paint_ms: fcp ? Math.round(fcp.startTime) : null,
      dom_content_loaded_ms: nav ? Math.round(nav.domContentLoadedEventEnd) : null,
    };
  });
  Object.assign(metrics, timing);
  console.log(`обзор: карточки с данными через ${timing.dashboard_ready_ms} мс от начала навигации ` +
    `(FCP ${timing.first_contentful_paint_ms} мс, DOMContentLoaded ${timing.dom_content_loaded_ms} мс)`);
  await page.waitForLoadState('networkidle').catch(() => undefined);
  await settled();
  // Даём сэмплеру снять хотя бы два замера счётчиков для спарклайнов.
  await page.waitForTimeout(6_000);
  await shot('02-dashboard');
  assert.ok(await page.locator('[data-testid=summary] mat-card').count() >= 4);
  // Сводка настоящего admin-module: элементы в сети, ёмкость не нулевая.
  const summary = await page.locator('[data-testid=summary]').innerText();
  assert.doesNotMatch(summary, /NaN|undefined|null/, `в сводке мусор: ${summary}`);
  assert.match(summary, /[1-9]\d*\s*\/\s*[1-9]/, `нет элементов в сети: ${summary}`);
});

test('регистрация элемента хранения по URL', async (t) => {
  await go('/storage-elements');
  await settled();
  if (!SE_URL) {
    await shot('03-storage-elements');
    t.skip('SE_URL не задан');
    return;
  }
  const table = page.locator('[data-testid=elements-table]');
  if ((await table.count()) && (await table.innerText()).includes(SE_URL)) {
    // Прогон повторный или элемент уже зарегистрирован стартовым скриптом — второй раз сервер ответит 409.
    await shot('03-storage-elements');
    t.diagnostic(`${SE_URL} уже в реестре`);
    return;
  }
  await page.click('[data-testid=register-element]');
  await page.fill('[data-testid=se-url]', SE_URL);
  await page.click('[data-testid=se-discover]');
  await page.locator('[data-testid=se-preview]').waitFor();
  await shot('03-storage-element-discover');
  await page.click('[data-testid=se-confirm]');
  const closed = page.locator('mat-dialog-container').waitFor({ state: 'detached' }).then(() => 'closed');
  const failed = page.locator('mat-dialog-container .inline-error').waitFor().then(() => 'error');
  if ((await Promise.race([closed, failed])) === 'error') {
    const text = await page.locator('mat-dialog-container .inline-error').innerText();
    await shot('03-storage-element-error');
    // Реестр мог записать адрес в другом виде (слэш, регистр) — тогда «уже зарегистрирован» не провал.
    assert.match(text, /уже|already|exist|duplicate/i, `Регистрация отклонена: ${text}`);
    t.diagnostic(`элемент уже зарегистрирован: ${text}`);
    return;
  }
  await page.locator('[data-testid=elements-table]', { hasText: SE_URL }).waitFor();
  await settled();
  await shot('03-storage-elements');
});

/** Загрузка через диалог: ждёт прогресс и итог, возвращает текст ошибки или null. */
async function uploadViaDialog(name, mimeType, buffer, description, tags) {
  await page.click('[data-testid=upload-open]');
  await page.setInputFiles('[data-testid=upload-input]', { name, mimeType, buffer });
  await page.fill('[data-testid=upload-description]', description);
  await page.fill('[data-testid=upload-tags]', tags);
  await page.click('[data-testid=upload-start]');
  await page.locator('[data-testid=upload-progress]').waitFor();
  const done = page.locator('[data-testid=upload-done]');
  const failed = page.locator('[data-testid=upload-error]');
  await Promise.race([done.waitFor({ timeout: TIMEOUT * 4 }), failed.waitFor({ timeout: TIMEOUT * 4 })]);
  if (await failed.count()) {
    return failed.innerText();
  }
  assert.match(await page.locator('[data-testid=upload-progress]').innerText(), /100\s*%/);
  // Итог загрузки — с file_id (у tus он берётся из адреса загрузки и GET /uploads/{id}).
  const fileId = (await page.locator('[data-testid=upload-file-id]').innerText()).trim();
  assert.match(fileId, /^[0-9a-f-]{32,36}$/i, `нет file_id в итоге загрузки ${name}`);
  state.fileIds[name] = fileId;
  return null;
}

async function closeDialog() {
  await page.click('mat-dialog-actions button');
  await page.locator('mat-dialog-container').waitFor({ state: 'detached' });
}

/** Ищет файлы прогона по метке, с несколькими попытками: фан-аут по элементам может отставать. */
async function searchFor(query, rowText) {
  const row = page.locator('[data-testid=files-table] tr.mat-mdc-row', { hasText: rowText });
  for (let attempt = 0; attempt < 10; attempt++) {
    await page.fill('[data-testid=search-query]', query);
    await page.keyboard.press('Escape');
    await page.click('[data-testid=search-submit]');
    await settled();
    if (await row.count()) {
      return row.first();
    }
    await page.waitForTimeout(2_000);
  }
  return null;
}

async function downloadAndCompare(row, expected, expectedName) {
  const [download] = await Promise.all([page.waitForEvent('download'), row.locator('[data-testid=file-download]').click()]);
  const saved = path.join(SCREENSHOT_DIR, `download-${expectedName}`);
  await download.saveAs(saved);
  const got = readFileSync(saved);
  assert.equal(got.length, expected.length, `${expectedName}: размер скачанного файла отличается`);
  assert.ok(got.equals(expected), `${expectedName}: содержимое скачанного файла отличается`);
  assert.equal(download.suggestedFilename(), expectedName, 'имя файла (кириллица) потерялось');
  // нативное скачивание браузером по временной ссылке (docs/links.md), а не blob: из памяти вкладки
  assert.match(download.url(), /\/api\/v1\/links\/[A-Za-z0-9_-]+\.\d+\.[A-Za-z0-9_-]+$/,
               `скачивание должно идти по временной ссылке, а не ${download.url()}`);
}

test('загрузка файла с прогрессом', async () => {
  await go('/files');
  await settled();
  await shot('04-files');
  const error = await uploadViaDialog(FILE_NAME, 'text/plain', FILE_BYTES, `Годовой отчёт бухгалтерии ${MARK}`, `e2e, ${MARK}`);
  if (error) {
    await shot('05-upload-error');
    assert.fail(`Загрузка не удалась: ${error}`);
  }
  await shot('05-upload-done');
  await closeDialog();
});

test('поиск по русскому слову', async () => {
  await go('/files');
  const row = await searchFor(MARK, FILE_NAME);
  assert.ok(row, `Файл с меткой «${MARK}» не найден поиском`);
  await shot('06-search');
  // Морфология: форма «отчёты» должна найти «отчёт» в описании.
  assert.ok(await searchFor(`отчёты ${MARK}`, FILE_NAME), 'Полнотекстовый поиск не нашёл файл по другой словоформе («отчёты»)');
});

test('скачивание совпадает байт в байт', async () => {
  const row = await searchFor(MARK, FILE_NAME);
  assert.ok(row, 'файл для скачивания не найден');
  await downloadAndCompare(row, FILE_BYTES, FILE_NAME);
});

test('большой файл: загрузка по tus и скачивание', async () => {
  await go('/files');
  await settled();
  const error = await uploadViaDialog(BIG_NAME, 'application/octet-stream', BIG_BYTES, `Архив сканов ${MARK}`, MARK);
  await shot('05-upload-big');
  assert.equal(error, null, `tus-загрузка не удалась: ${error}`);
  await closeDialog();
  const row = await searchFor(MARK, BIG_NAME);
  assert.ok(row, 'файл, загруженный по tus, не найден поиском');
  await downloadAndCompare(row, BIG_BYTES, BIG_NAME);
});

/** Открывает меню действий строки файла и выбирает пункт. */
async function fileAction(row, item) {
  await row.locator('button[aria-label="Действия"]').click();
  await page.locator('.mat-mdc-menu-panel button', { hasText: item }).click();
}

test('финализация: временный файл становится постоянным на элементе rw', async () => {
  await go('/files');
  const row = await searchFor(MARK, FILE_NAME);
  assert.ok(row, 'файл для финализации не найден');
  await fileAction(row, 'Финализировать');
  await page.click('[data-testid=confirm]');
  // Сага переноса идёт в фоне: панель ждёт её итога и сообщает о нём.
  const snack = page.locator('.mat-mdc-snack-bar-label', { hasText: /завершена|не удалось|отменено/ }).first();
  await snack.waitFor({ timeout: TIMEOUT * 4 });
  const text = await snack.innerText();
  assert.match(text, /завершена/, `финализация не удалась: ${text}`);
  const after = await searchFor(MARK, FILE_NAME);
  assert.ok(after, 'файл пропал после финализации');
  await page.locator('[data-testid=files-table] tr.mat-mdc-row', { hasText: FILE_NAME }).filter({ hasText: 'постоянный' }).waitFor();
  await shot('06-finalized');
  // И скачивается с нового элемента так же байт в байт.
  await downloadAndCompare(after, FILE_BYTES, FILE_NAME);
});

test('удаление файла с элемента edit', async () => {
  await go('/files');
  const row = await searchFor(MARK, BIG_NAME);
  assert.ok(row, 'файл для удаления не найден');
  await fileAction(row, 'Удалить');
  await page.click('[data-testid=confirm]');
  const snack = page.locator('.mat-mdc-snack-bar-label', { hasText: /удалён|Удаление/ }).first();
  await snack.waitFor();
  assert.match(await snack.innerText(), /удалён/, `удаление не удалось: ${await snack.innerText()}`);
  await settled();
  await page.locator('[data-testid=files-table] tr.mat-mdc-row', { hasText: BIG_NAME }).waitFor({ state: 'detached' });
});

test('смена секрета сервисного аккаунта', async () => {
  await go('/service-accounts');
  await settled();
  await page.click('[data-testid=sa-create]');
  await page.fill('[data-testid=sa-name]', ACCOUNT_NAME);
  await page.click('[data-testid=sa-save]');
  await page.locator('[data-testid=secret-value]').waitFor();
  state.firstSecret = (await page.locator('[data-testid=secret-value]').innerText()).trim();
  await page.click('[data-testid=secret-close]');
  await page.locator('mat-dialog-container').waitFor({ state: 'detached' });

  await page.locator(`[data-testid="sa-actions-${ACCOUNT_NAME}"]`).click();
  await page.click('[data-testid=sa-rotate]');
  await page.click('[data-testid=confirm]');
  await page.locator('[data-testid=secret-value]').waitFor();
  const rotated = (await page.locator('[data-testid=secret-value]').innerText()).trim();
  await shot('07-rotated-secret');
  assert.ok(rotated.length >= 16, 'новый секрет слишком короткий');
  assert.notEqual(rotated, state.firstSecret, 'секрет не изменился');
  await page.click('[data-testid=secret-close]');
  await page.locator('mat-dialog-container').waitFor({ state: 'detached' });
  await shot('07-service-accounts');
});

test('вебхук аккаунта: ровно события admin-module, секрет подписи один раз', async () => {
  await go('/service-accounts');
  await settled();
  await page.locator(`[data-testid="sa-actions-${ACCOUNT_NAME}"]`).click();
  await page.click('[data-testid=sa-webhooks]');
  await page.waitForURL(/\/webhooks$/);
  await settled();
  await page.click('[data-testid=wh-create]');
  await page.fill('[data-testid=wh-url]', 'https://hooks.example.org/artstore');
  await page.click('[data-testid=wh-events]');
  const options = page.locator('mat-option');
  await options.first().waitFor();
  const offered = (await options.allInnerTexts()).map((t) => t.split(' — ')[0].trim()).sort();
  assert.deepEqual(offered, ['file_deleted', 'file_expired', 'file_expiring', 'file_finalized', 'file_restored',
    'file_transferred', 'file_uploaded', 'restore_failed']);
  await options.filter({ hasText: 'file_uploaded' }).click();
  await options.filter({ hasText: 'file_deleted' }).click();
  await page.keyboard.press('Escape');
  await page.click('[data-testid=wh-save]');
  await page.locator('[data-testid=secret-value]').waitFor();
  assert.ok((await page.locator('[data-testid=secret-value]').innerText()).trim().length >= 16, 'секрет подписи не показан');
  await page.click('[data-testid=secret-close]');
  await page.locator('[data-testid=wh-table]', { hasText: 'hooks.example.org' }).waitFor();
  await settled();
  await shot('07-webhooks');
});

test('запись о смене секрета в журнале аудита', async () => {
  await go('/audit');
  await settled();
  await page.locator('[data-testid=audit-verify]').waitFor();
  const entry = page.locator('[data-testid=audit-table] tr.mat-mdc-row', { hasText: /rotate/i }).first();
  await entry.waitFor();
  await shot('08-audit');
  // Запись заполнена полями настоящего журнала: время, кто (имя администратора), объект — аккаунт.
  const cells = await entry.locator('td').allInnerTexts();
  assert.match(cells[0], /\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}/, `нет времени в записи: ${cells.join(' | ')}`);
  assert.ok(cells[1].includes(ADMIN_USER), `в записи не указан администратор: ${cells.join(' | ')}`);
  assert.match(cells[3], /service_account/, `в записи нет объекта: ${cells.join(' | ')}`);
  const chip = await page.locator('[data-testid=audit-verify]').getAttribute('class');
  assert.ok(!/\bbad\b/.test(chip ?? ''), 'проверка целостности журнала аудита не прошла');
});

test('остальные страницы открываются', async () => {
  await go('/admin-users');
  await settled();
  await page.locator('[data-testid=admin-users-table]').waitFor();
  await shot('09-admin-users');
});

test('уборка: удаление аккаунта e2e', async () => {
  await go('/service-accounts');
  await settled();
  await page.locator(`[data-testid="sa-actions-${ACCOUNT_NAME}"]`).click();
  await page.locator('.mat-mdc-menu-panel button', { hasText: 'Удалить' }).click();
  await page.click('[data-testid=confirm]');
  await page.locator(`[data-testid="sa-actions-${ACCOUNT_NAME}"]`).waitFor({ state: 'detached' });
});

test('на страницах не было необработанных ошибок', () => {
  assert.deepEqual(pageErrors, []);
});
