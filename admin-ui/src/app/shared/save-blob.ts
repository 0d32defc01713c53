/** Сохраняет Blob через временную ссылку: иначе скачивание с Bearer-токеном в браузере не сделать. */
export function saveBlob(blob: Blob, filename: string, doc: Document = document): void {
  const url = URL.createObjectURL(blob);
  const a = doc.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  doc.body.appendChild(a);
  a.click();
  a.remove();
  // Отзываем с задержкой: некоторые браузеры начинают чтение после click() асинхронно.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Имя файла из Content-Disposition (RFC 6266): filename* с UTF-8 важнее, иначе кириллица теряется. */
export function filenameFromDisposition(header: string | null | undefined): string | null {
  if (!header) {
    return null;
  }
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[2].trim().replace(/^"|"$/g, ''));
    } catch {
      // битое percent-кодирование — пробуем обычный filename
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  if (plain) {
    return (plain[2] ?? plain[1]).trim();
  }
  return null;
}
