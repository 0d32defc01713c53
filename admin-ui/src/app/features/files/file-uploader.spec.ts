import { provideHttpClient } from '@angular/common/http';
import { HttpEventType } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import { Session } from '../../core/auth/session';
import { FileUploader, RESUMABLE_THRESHOLD, TUS_LOADER, UploadEvent, tusError } from './file-uploader';

/** Подделка tus.Upload: запоминает опции и даёт тесту дёргать колбэки. */
class FakeUpload {
  static last: FakeUpload;
  started = false;
  aborted = false;
  resumedFrom: unknown = null;
  url: string | null = null;
  constructor(public file: Blob, public options: Record<string, any>) {
    FakeUpload.last = this;
  }
  findPreviousUploads() {
    return Promise.resolve([{ uploadUrl: 'http://localhost:8020/api/v1/uploads/old' }]);
  }
  resumeFromPreviousUpload(prev: unknown) {
    this.resumedFrom = prev;
  }
  start() {
    this.started = true;
  }
  abort() {
    this.aborted = true;
    return Promise.resolve();
  }
}

describe('FileUploader', () => {
  let uploader: FileUploader;
  let http: HttpTestingController;

  beforeEach(() => {
    TestBed.configureTestingModule({
      providers: [
        provideHttpClient(),
        provideHttpClientTesting(),
        provideRouter([]),
        { provide: TUS_LOADER, useValue: () => Promise.resolve({ Upload: FakeUpload }) },
        { provide: Session, useValue: { accessToken: () => 'tok' } },
      ],
    });
    uploader = TestBed.inject(FileUploader);
    http = TestBed.inject(HttpTestingController);
  });

  it('малый файл — multipart с полями и прогрессом', () => {
    const events: UploadEvent[] = [];
    const file = new File(['привет'], 'отчёт.txt', { type: 'text/plain' });
    uploader.upload(file, { retention_policy: 'temporary', ttl_days: 30, description: 'опись', tags: ['a', 'b'] })
      .subscribe((e) => events.push(e));
    const req = http.expectOne('http://localhost:8020/api/v1/files/upload');
    const body = req.request.body as FormData;
    expect((body.get('file') as File).name).toBe('отчёт.txt');
    expect(body.get('retention_policy')).toBe('temporary');
    expect(body.get('ttl_days')).toBe('30');
    expect(body.get('description')).toBe('опись');
    expect(body.get('tags')).toBe('a,b');
    expect(req.request.reportProgress).toBe(true);
    req.event({ type: HttpEventType.UploadProgress, loaded: 6, total: 12 });
    req.flush({ file_id: 'f-1', checksum: 'abc' });
    expect(events).toEqual([
      { kind: 'progress', loaded: 6, total: 12 },
      { kind: 'done', result: { file_id: 'f-1', checksum: 'abc' } },
    ]);
  });

  it('для permanent не отправляет ttl_days', () => {
    uploader.upload(new File(['x'], 'a.bin'), { retention_policy: 'permanent', ttl_days: 5 }).subscribe();
    const body = http.expectOne('http://localhost:8020/api/v1/files/upload').request.body as FormData;
    expect(body.has('ttl_days')).toBe(false);
  });

  it('большой файл — tus с метаданными, токеном и возобновлением', async () => {
    const big = new File([new Uint8Array(8)], 'архив.zip', { type: 'application/zip' });
    Object.defineProperty(big, 'size', { value: RESUMABLE_THRESHOLD + 1 });
    const events: UploadEvent[] = [];
    const sub = uploader.upload(big, { retention_policy: 'permanent', description: 'd' }).subscribe((e) => events.push(e));
    await vi.waitFor(() => expect(FakeUpload.last?.started).toBe(true));
    const up = FakeUpload.last;
    expect(up.options['endpoint']).toBe('http://localhost:8020/api/v1/uploads');
    expect(up.options['metadata']).toEqual({ filename: 'архив.zip', filetype: 'application/zip', retention_policy: 'permanent', description: 'd' });
    expect(up.resumedFrom).not.toBeNull();

    const headers: Record<string, string> = {};
    up.options['onBeforeRequest']({ setHeader: (k: string, v: string) => (headers[k] = v) });
    expect(headers['Authorization']).toBe('Bearer tok');

    up.options['onProgress'](50, 100);
    up.options['onAfterResponse']({}, { getHeader: (h: string) => (h === 'X-File-Id' ? 'f-big' : undefined) });
    up.options['onSuccess']({});
    // Данные готового файла — из GET /uploads/{id}
    http.expectOne('http://localhost:8020/api/v1/uploads/f-big').flush({
      upload_id: 'f-big', offset: 100, length: 100, completed: true,
      file: { file_id: 'f-big', checksum: 'c0ffee', storage_element_id: 'se-01' },
    });
    expect(events[0]).toEqual({ kind: 'progress', loaded: 50, total: 100 });
    expect(events[1]).toEqual({ kind: 'done', result: expect.objectContaining({ file_id: 'f-big', checksum: 'c0ffee' }) });
    sub.unsubscribe();
  });

  it('tus без X-File-Id: id файла — последний сегмент адреса загрузки (Location ingester)', async () => {
    const big = new File([new Uint8Array(8)], 'c.bin');
    Object.defineProperty(big, 'size', { value: RESUMABLE_THRESHOLD + 1 });
    const events: UploadEvent[] = [];
    const sub = uploader.upload(big, { retention_policy: 'temporary' }).subscribe((e) => events.push(e));
    await vi.waitFor(() => expect(FakeUpload.last?.started).toBe(true));
    const up = FakeUpload.last;
    up.url = 'http://localhost:8020/api/v1/uploads/0b7c-uuid';
    up.options['onAfterResponse']({}, { getHeader: () => undefined });
    up.options['onSuccess']({});
    // Статус недоступен — всё равно отдаём id, имя и размер
    http.expectOne('http://localhost:8020/api/v1/uploads/0b7c-uuid').flush({}, { status: 500, statusText: 'x' });
    expect(events.at(-1)).toEqual({ kind: 'done', result: { file_id: '0b7c-uuid', original_filename: 'c.bin', file_size: RESUMABLE_THRESHOLD + 1 } });
    sub.unsubscribe();
  });

  it('отписка прерывает tus-загрузку', async () => {
    const big = new File([new Uint8Array(8)], 'b.bin');
    Object.defineProperty(big, 'size', { value: RESUMABLE_THRESHOLD + 1 });
    const sub = uploader.upload(big, { retention_policy: 'permanent' }).subscribe();
    await vi.waitFor(() => expect(FakeUpload.last?.started).toBe(true));
    sub.unsubscribe();
    expect(FakeUpload.last.aborted).toBe(true);
  });
});

describe('tusError', () => {
  it('достаёт detail из problem+json ответа', () => {
    const err = Object.assign(new Error('tus: failed'), {
      originalResponse: { getStatus: () => 507, getBody: () => '{"detail":"Нет места","code":"insufficient_storage"}' },
    });
    const e = tusError(err as never);
    expect(e.message).toBe('Нет места');
    expect(e.status).toBe(507);
    expect(e.code).toBe('insufficient_storage');
  });
  it('без ответа — сообщение об обрыве', () => {
    expect(tusError(new Error('x')).message).toContain('прервана');
  });
});
