import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@nself/config';
import { fileEnvSchema, loadFileConfig, parseByteSize, parseThumbnailSizes } from '../src/config.js';
import { cameraExif } from '../src/adapters/image.js';
import { uuidv7, UUID_PATTERN } from '../src/adapters/repository.js';
import { parseClamdReply } from '../src/adapters/scanner.js';
import { createLinkSigner } from '../src/adapters/signed-links.js';
import { isAllowedType, sniffType } from '../src/adapters/sniff.js';
import { assertSafeKey } from '../src/adapters/storage.js';
import { decodeEventKey } from '../src/use-cases/storage-events.js';
import { cleanFileName } from '../src/use-cases/upload-file.js';
import { jpegWithGps, onePagePdf, pngDeclaring } from './fixtures.js';

const minimalEnv = { DATABASE_URL: 'postgresql://x@localhost/db', JWT_SECRET: 'x'.repeat(40) };

describe('config', () => {
  it('parses sizes and thumbnail boxes', () => {
    expect(parseByteSize('100MB')).toBe(100 * 1024 * 1024);
    expect(parseByteSize('512kb')).toBe(512 * 1024);
    expect(parseByteSize('1.5GB')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('2048')).toBe(2048);
    expect(parseByteSize('ten')).toBeNull();
    expect(parseThumbnailSizes('100x100,1200x800,400')!.map((s) => s.label)).toEqual(['1200x800', '400', '100x100']);
    expect(parseThumbnailSizes('100x100,100x100')).toBeNull();
    expect(parseThumbnailSizes('0x10')).toBeNull();
  });

  it('has the seed defaults and picks local storage without an endpoint', () => {
    const config = loadFileConfig(minimalEnv);
    expect(config.port).toBe(3104);
    expect(config.workerPort).toBe(3114);
    expect(config.upload.maxSize).toBe(100 * 1024 * 1024);
    expect(config.upload.allowedTypes).toEqual(['image/*', 'video/*', 'application/pdf']);
    expect(config.processing.sizes.map((s) => s.label)).toEqual(['1200x1200', '400x400', '100x100']);
    expect(config.processing.formats).toEqual(['avif', 'webp', 'jpeg']);
    expect(config.processing.optimize).toBe(true);
    expect(config.scan.enabled).toBe(false);
    expect(config.storage.provider).toBe('local');
    expect(config.queuePrefix).toBe('nself:bull');
    expect(loadFileConfig({ ...minimalEnv, FILE_STORAGE_ENDPOINT: 'http://minio:9000' }).storage.provider).toBe('s3');
  });

  it('names the variables that are wrong, never their values', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadFileConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).message).not.toContain('hunter2');
        return (error as ConfigError).variables;
      }
      throw new Error('configuration was accepted');
    };
    expect(problems({ FILE_MAX_SIZE: 'huge', FILE_THUMBNAIL_FORMATS: 'gif', FILE_STORAGE_SECRET_KEY: 'hunter2-secret' })).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'FILE_MAX_SIZE', 'FILE_THUMBNAIL_FORMATS.0']),
    );
    // Cross-field rules, once every single variable is well-formed.
    expect(problems({ DATABASE_URL: 'postgresql://x@h/db', FILE_STORAGE_PROVIDER: 'r2', FILE_STORAGE_SECRET_KEY: 'hunter2-secret' })).toEqual(
      expect.arrayContaining(['JWT_SECRET', 'FILE_STORAGE_ENDPOINT', 'FILE_STORAGE_ACCESS_KEY']),
    );
  });
});

describe('manifest and .env.example', () => {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const schemaKeys = Object.keys(fileEnvSchema.shape).sort();

  it('list every variable the service reads, with the defaults it applies', () => {
    const plugin = JSON.parse(readFileSync(path.join(dir, 'plugin.json'), 'utf8')) as {
      envVars: { name: string; default: string | null }[];
      tables: string[];
      actions: { name: string }[];
    };
    expect(plugin.envVars.map((v) => v.name).sort()).toEqual(schemaKeys);
    const example = Object.fromEntries(
      readFileSync(path.join(dir, '.env.example'), 'utf8')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(Object.keys(example).sort()).toEqual(schemaKeys);
    // The example as shipped (plus a secret) is a valid configuration.
    const config = loadFileConfig({ ...example, JWT_SECRET: 'x'.repeat(40) });
    expect(config.upload.maxSize).toBe(100 * 1024 * 1024);
    expect(config.storage.provider).toBe('local');
    for (const v of plugin.envVars) {
      if (v.default !== null && example[v.name] !== '') expect(example[v.name], v.name).toBe(v.default);
    }
    expect(plugin.tables.sort()).toEqual(['file_metadata', 'file_processing_jobs', 'file_scans', 'file_thumbnails']);
    expect(plugin.actions.map((a) => a.name).sort()).toEqual(['cleanup', 'init', 'process', 'scan', 'server', 'stats', 'worker']);
  });
});

describe('type sniffing', () => {
  it('detects binary formats by magic bytes', async () => {
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: 'red' } }).png().toBuffer();
    expect(await sniffType(png)).toEqual({ mime: 'image/png', ext: 'png' });
    expect((await sniffType(await jpegWithGps(32, 32))).mime).toBe('image/jpeg');
    expect((await sniffType(onePagePdf())).mime).toBe('application/pdf');
    expect((await sniffType(pngDeclaring(10, 10))).mime).toBe('image/png');
  });

  it('never lets scripts or markup pass as images', async () => {
    expect((await sniffType(Buffer.from('#!/usr/bin/env python\nimport os'))).mime).toBe('application/x-executable-script');
    expect((await sniffType(Buffer.from('<svg onload="alert(1)"/>'))).mime).toBe('image/svg+xml');
    expect((await sniffType(Buffer.from('<!DOCTYPE html><html>'))).mime).toBe('text/html');
    expect((await sniffType(Buffer.from('hello world'))).mime).toBe('text/plain');
    expect((await sniffType(Buffer.from([0x00, 0x01, 0xfe, 0x99]))).mime).toBe('application/octet-stream');
    expect(isAllowedType('image/png', ['image/*'])).toBe(true);
    expect(isAllowedType('image/svg+xml', ['image/*'])).toBe(false);
    expect(isAllowedType('image/svg+xml', ['image/*', 'image/svg+xml'])).toBe(true);
    expect(isAllowedType('text/html', ['*/*'])).toBe(false);
    expect(isAllowedType('application/pdf', ['image/*', 'video/*', 'application/pdf'])).toBe(true);
    expect(isAllowedType('application/zip', ['image/*', 'video/*', 'application/pdf'])).toBe(false);
  });
});

describe('clamd replies', () => {
  it('is clean only on an explicit OK', () => {
    expect(parseClamdReply('stream: OK\0')).toEqual({ status: 'clean' });
    expect(parseClamdReply('stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0')).toEqual({
      status: 'infected',
      signature: 'Eicar-Test-Signature',
    });
    expect(parseClamdReply('INSTREAM size limit exceeded. ERROR\0')).toMatchObject({ status: 'error' });
    expect(parseClamdReply('')).toMatchObject({ status: 'error' });
    expect(parseClamdReply('stream: OK but also something')).toMatchObject({ status: 'error' });
  });
});

describe('download links', () => {
  it('verifies signature and expiry', () => {
    const signer = createLinkSigner('a-secret-that-is-long-enough-0123456789');
    const token = signer.sign({ key: 'acct/f/original.jpg', expiresAt: 2_000_000_000, name: 'a.jpg', type: 'image/jpeg' });
    expect(signer.verify(token, 1_000)).toEqual({ key: 'acct/f/original.jpg', expiresAt: 2_000_000_000, name: 'a.jpg', type: 'image/jpeg' });
    expect(signer.verify(token, 2_000_000_001)).toBeNull();
    const [payload, sig] = token.split('.');
    const other = Buffer.from(JSON.stringify({ k: 'acct/other/original.jpg', e: 2_000_000_000 })).toString('base64url');
    expect(signer.verify(`${other}.${sig}`, 1_000)).toBeNull();
    expect(signer.verify(`${payload}.${sig}.x`, 1_000)).toBeNull();
    expect(createLinkSigner('another-secret-0123456789-0123456789').verify(token, 1_000)).toBeNull();
  });
});

describe('EXIF', () => {
  it('keeps camera fields and never location data', async () => {
    const meta = await sharp(await jpegWithGps(64, 48)).metadata();
    const exif = cameraExif(meta.exif);
    expect(exif).toMatchObject({ make: 'Canon', model: 'Canon EOS 5D Mark IV', exposureTime: 0.008, fNumber: 2.8, iso: 200, focalLength: 50 });
    expect(JSON.stringify(exif)).not.toMatch(/gps|37|122/i);
    expect(cameraExif(Buffer.from('garbage'))).toEqual({});
    expect(cameraExif(undefined)).toEqual({});
  });
});

describe('small helpers', () => {
  it('keeps names and keys harmless', () => {
    expect(cleanFileName('../../etc/passwd')).toBe('passwd');
    expect(cleanFileName('C:\\Users\\me\\photo\u0000.jpg')).toBe('photo.jpg');
    expect(cleanFileName('')).toBeNull();
    expect(() => assertSafeKey('a/../b')).toThrow();
    expect(() => assertSafeKey('/abs')).toThrow();
    expect(() => assertSafeKey('acct/id/original.jpg')).not.toThrow();
    expect(decodeEventKey('photos/my+holiday%20pic.jpg')).toBe('photos/my holiday pic.jpg');
    const ids = [uuidv7(), uuidv7()];
    expect(ids.every((id) => UUID_PATTERN.test(id) && id[14] === '7')).toBe(true);
  });
});
