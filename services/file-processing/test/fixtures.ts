/** Test inputs built in code (no binary fixtures in the repository). */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { crc32, deflateSync } from 'node:zlib';
import { zipSync } from 'fflate';
import sharp, { type Sharp } from 'sharp';

/** The EICAR anti-virus test file (68 bytes). */
export const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*', 'latin1');

export const GPS_XMP = `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="37,46.5N" exif:GPSLongitude="122,25.0W"/>
</rdf:RDF></x:xmpmeta><?xpacket end="w"?>`;

/** A photo-like image (gradient + noise), so encoders have real work to do. */
export async function photo(width: number, height: number): Promise<Sharp> {
  const noise = await sharp({
    create: { width, height, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
  })
    .blur(3)
    .raw()
    .toBuffer();
  const gradient = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = (y * width + x) * 3;
      gradient[i] = Math.round((x / width) * 255);
      gradient[i + 1] = Math.round((y / height) * 255);
      gradient[i + 2] = 128;
    }
  }
  const mixed = Buffer.alloc(gradient.length);
  for (let i = 0; i < mixed.length; i += 1) mixed[i] = (gradient[i]! + noise[i]!) >> 1;
  return sharp(mixed, { raw: { width, height, channels: 3 } });
}

/** A JPEG from a camera at a known place: EXIF camera fields, GPS coordinates and GPS in XMP. */
export async function jpegWithGps(width = 1600, height = 1200): Promise<Buffer> {
  return (await photo(width, height))
    .jpeg({ quality: 90 })
    .withExif({
      IFD0: { Make: 'Canon', Model: 'Canon EOS 5D Mark IV', Software: 'Firmware 1.0' },
      IFD2: { ExposureTime: '1/125', FNumber: '28/10', ISOSpeedRatings: '200', FocalLength: '50/1', LensModel: 'EF50mm f/1.8 STM' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '37/1 46/1 3000/100',
        GPSLongitudeRef: 'W',
        GPSLongitude: '122/1 25/1 0/1',
      },
    })
    .withXmp(GPS_XMP)
    .toBuffer();
}

export const QUADRANTS = {
  topLeft: [230, 30, 30],
  topRight: [30, 200, 30],
  bottomLeft: [30, 30, 230],
  bottomRight: [230, 230, 30],
} as const;

/** The upright picture: four coloured quadrants, wider than tall (120×80). */
function uprightPixels(): { data: Buffer; width: number; height: number } {
  const width = 120;
  const height = 80;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const q =
        y < height / 2
          ? x < width / 2
            ? QUADRANTS.topLeft
            : QUADRANTS.topRight
          : x < width / 2
            ? QUADRANTS.bottomLeft
            : QUADRANTS.bottomRight;
      data.set(q, (y * width + x) * 3);
    }
  }
  return { data, width, height };
}

/**
 * A JPEG whose stored pixels, displayed per EXIF orientation n (TIFF/EXIF definitions, not sharp's),
 * show the upright picture. Stored pixel (sx, sy) is displayed at visual(sx, sy).
 */
export async function orientedJpeg(orientation: number): Promise<Buffer> {
  const upright = uprightPixels();
  const swap = orientation >= 5;
  const sw = swap ? upright.height : upright.width;
  const sh = swap ? upright.width : upright.height;
  const visual = (x: number, y: number): [number, number] => {
    switch (orientation) {
      case 1: return [x, y];
      case 2: return [sw - 1 - x, y];
      case 3: return [sw - 1 - x, sh - 1 - y];
      case 4: return [x, sh - 1 - y];
      case 5: return [y, x];
      case 6: return [sh - 1 - y, x];
      case 7: return [sh - 1 - y, sw - 1 - x];
      case 8: return [y, sw - 1 - x];
      default: throw new Error(`orientation ${orientation}`);
    }
  };
  const stored = Buffer.alloc(sw * sh * 3);
  for (let y = 0; y < sh; y += 1) {
    for (let x = 0; x < sw; x += 1) {
      const [vx, vy] = visual(x, y);
      const from = (vy * upright.width + vx) * 3;
      stored.set(upright.data.subarray(from, from + 3), (y * sw + x) * 3);
    }
  }
  return sharp(stored, { raw: { width: sw, height: sh, channels: 3 } })
    .jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
    .withMetadata({ orientation })
    .toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

/** A tiny PNG that declares width×height pixels (a decompression bomb's header). */
export function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(64 * 1024))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Starts like a JPEG (valid SOI/APP0), continues as garbage. */
export async function corruptJpeg(): Promise<Buffer> {
  const real = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  const garbage = randomBytes(8000);
  for (let i = 0; i < garbage.length; i += 1) if (garbage[i] === 0xff) garbage[i] = 0x00;
  return Buffer.concat([real.subarray(0, 20), garbage]);
}

export function zipOf(files: Record<string, Buffer>, level: 0 | 6 = 6): Buffer {
  return Buffer.from(zipSync(Object.fromEntries(Object.entries(files).map(([n, b]) => [n, new Uint8Array(b)])), { level }));
}

/** A small valid one-page PDF (offsets computed, so poppler reads it without repair). */
export function onePagePdf(): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << >> >>',
  ];
  const content = '0.2 0.4 0.8 rg 20 20 260 160 re f';
  objects.push(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`);
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** A 2-second 320×240 MP4 made by ffmpeg's test source; null when ffmpeg is not installed. */
export async function testVideo(): Promise<Buffer | null> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fp-video-'));
  try {
    const out = path.join(dir, 'clip.mp4');
    await promisify(execFile)(
      'ffmpeg',
      ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=2:size=320x240:rate=10', '-pix_fmt', 'yuv420p', out],
      { timeout: 60_000 },
    );
    return readFileSync(out);
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
