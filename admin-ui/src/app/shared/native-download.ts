/**
 * Нативное скачивание браузером по адресу, который не требует заголовка Authorization (временная ссылка
 * query-module, docs/links.md): браузер пишет файл потоком на диск, показывает свою полосу и докачивает
 * после обрыва. Blob в памяти вкладки для файла в гигабайты не годится.
 *
 * Ссылка, а не window.open: окно без жеста пользователя заблокирует браузер, а ответ с
 * Content-Disposition: attachment скачивается, не уводя страницу. Атрибут download — имя для того же
 * origin (за nginx); для чужого origin браузер его не учитывает и берёт имя из Content-Disposition.
 */
export function startDownload(url: string, filename: string, doc: Document = document): void {
  const a = doc.createElement('a');
  a.href = url;
  a.download = filename;
  // адрес ссылки — пропуск к файлу: не передаём его дальше в Referer
  a.rel = 'noopener noreferrer';
  doc.body.appendChild(a);
  a.click();
  a.remove();
}
