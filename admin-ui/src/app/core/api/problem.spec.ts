import { HttpErrorResponse } from '@angular/common/http';
import { problemCode, problemFromBlobError, problemMessage, toProblem } from './problem';

describe('problem', () => {
  it('показывает detail из problem+json', () => {
    const err = new HttpErrorResponse({
      status: 409,
      error: { type: 'about:blank', title: 'Conflict', status: 409, detail: 'Элемент в режиме ro', code: 'mode_forbids_operation' },
    });
    expect(problemMessage(err)).toBe('Элемент в режиме ro');
    expect(problemCode(err)).toBe('mode_forbids_operation');
  });

  it('разбирает problem+json, пришедший строкой', () => {
    const err = new HttpErrorResponse({ status: 401, error: '{"detail":"нужен TOTP","code":"totp_required"}' });
    expect(toProblem(err).code).toBe('totp_required');
  });

  it('склеивает ошибки валидации FastAPI', () => {
    const err = new HttpErrorResponse({
      status: 422,
      error: { detail: [{ loc: ['body', 'api_url'], msg: 'field required' }] },
    });
    expect(problemMessage(err)).toBe('body.api_url: field required');
  });

  it('для сетевого сбоя даёт понятный текст', () => {
    const err = new HttpErrorResponse({ status: 0, error: new ProgressEvent('error') });
    expect(problemMessage(err)).toContain('недоступен');
  });

  it('без тела — текст по статусу', () => {
    expect(problemMessage(new HttpErrorResponse({ status: 403 }))).toBe('Недостаточно прав');
    expect(problemMessage(new HttpErrorResponse({ status: 502 }))).toContain('502');
  });

  it('читает problem+json из Blob', async () => {
    const blob = new Blob([JSON.stringify({ detail: 'Файл в архиве', code: 'file_archived' })], {
      type: 'application/problem+json',
    });
    const p = await problemFromBlobError(new HttpErrorResponse({ status: 409, error: blob }));
    expect(p.detail).toBe('Файл в архиве');
    expect(p.status).toBe(409);
  });
});
