import exifReader from 'exif-reader';
import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';
import type { ThumbnailFormat, ThumbnailSize } from '../config.js';
import { ProcessingError } from '../domain.js';

/** Formats sharp's prebuilt libvips decodes (and we make thumbnails of). */
export const RASTER_TYPES = new Set([
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/avif',
  'image/tiff',
  'image/heif',
  'image/heic',
]);

export interface ImageOptions {
  sizes: ThumbnailSize[];
  formats: ThumbnailFormat[];
  optimize: boolean;
  jpegQuality: number;
  webpQuality: number;
  avifQuality: number;
  avifEffort: number;
  maxPixels: number;
}

export interface ImageInfo {
  format: string;
  /** Upright (after EXIF orientation) dimensions. */
  width: number;
  height: number;
  pages: number;
  hasAlpha: boolean;
  orientation?: number;
  /** Camera fields only; never GPS or other location data. */
  exif: Record<string, string | number>;
  /** True when the input carried EXIF, XMP or IPTC metadata. */
  hadMetadata: boolean;
}

export interface RenderedImage {
  label: string;
  format: ThumbnailFormat;
  width: number;
  height: number;
  data: Buffer;
}

export interface RenderResult {
  info: ImageInfo;
  thumbnails: RenderedImage[];
  optimized?: { data: Buffer; format: string; ext: string; width: number; height: number };
}

/** libvips threads per image operation (sharp defaults to 1 here) and a small operation cache. */
export function configureSharp(concurrency: number): void {
  sharp.concurrency(concurrency);
  sharp.cache({ memory: 64, files: 0, items: 50 });
}

// Whitelist: camera and exposure fields. GPS, serial numbers, owner names, maker notes never pass.
const IMAGE_FIELDS: Record<string, string> = {
  Make: 'make',
  Model: 'model',
  Software: 'software',
  Orientation: 'orientation',
};
const PHOTO_FIELDS: Record<string, string> = {
  LensMake: 'lensMake',
  LensModel: 'lensModel',
  ExposureTime: 'exposureTime',
  FNumber: 'fNumber',
  ISOSpeedRatings: 'iso',
  PhotographicSensitivity: 'iso',
  FocalLength: 'focalLength',
  FocalLengthIn35mmFilm: 'focalLength35mm',
  ExposureProgram: 'exposureProgram',
  ExposureBiasValue: 'exposureBias',
  MeteringMode: 'meteringMode',
  Flash: 'flash',
  WhiteBalance: 'whiteBalance',
  DateTimeOriginal: 'takenAt',
};

function exifValue(value: unknown): string | number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.round(value * 1e6) / 1e6;
  if (typeof value === 'string') {
    const text = value.replace(/\0/g, '').trim();
    return text ? text.slice(0, 128) : undefined;
  }
  if (Array.isArray(value) && typeof value[0] === 'number') return exifValue(value[0]);
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  return undefined;
}

/** Camera fields from a raw EXIF block (whitelisted; location data is never read out). */
export function cameraExif(raw: Buffer | undefined): Record<string, string | number> {
  if (!raw?.length) return {};
  let parsed: ReturnType<typeof exifReader>;
  try {
    parsed = exifReader(raw);
  } catch {
    return {};
  }
  const out: Record<string, string | number> = {};
  for (const [group, fields] of [
    [parsed.Image, IMAGE_FIELDS],
    [parsed.Photo, PHOTO_FIELDS],
  ] as const) {
    if (!group) continue;
    for (const [tag, name] of Object.entries(fields)) {
      const value = exifValue((group as Record<string, unknown>)[tag]);
      if (value !== undefined && out[name] === undefined) out[name] = value;
    }
  }
  return out;
}

function inputOptions(maxPixels: number): SharpOptions {
  return { limitInputPixels: maxPixels, failOn: 'error', autoOrient: true };
}

/** Maps libvips/sharp failures to stable, permanent error codes with a readable message. */
export function imageError(error: unknown): ProcessingError {
  if (error instanceof ProcessingError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) {
    return new ProcessingError('IMAGE_TOO_LARGE', `Image refused: ${message}`, false, { cause: error });
  }
  if (/unsupported image format|no decoder|not a known file format/i.test(message)) {
    return new ProcessingError('UNSUPPORTED_FORMAT', `Image format not supported: ${message}`, false, { cause: error });
  }
  return new ProcessingError('IMAGE_CORRUPT', `Image could not be decoded: ${message.split('\n')[0]}`, false, {
    cause: error,
  });
}

/** Reads dimensions and metadata without decoding pixels; refuses pixel bombs before any decode. */
export async function probeImage(input: string | Buffer, maxPixels: number): Promise<ImageInfo> {
  let meta: Metadata;
  try {
    // Header only (no pixels decoded), so the pixel check below can name the dimensions.
    meta = await sharp(input, { ...inputOptions(maxPixels), limitInputPixels: false }).metadata();
  } catch (error) {
    throw imageError(error);
  }
  const pageHeight = meta.pageHeight ?? meta.height;
  if (!meta.width || !pageHeight) throw new ProcessingError('IMAGE_CORRUPT', 'Image has no dimensions', false);
  if (meta.width * pageHeight > maxPixels) {
    throw new ProcessingError(
      'IMAGE_TOO_LARGE',
      `Image refused: ${meta.width}×${pageHeight} = ${meta.width * pageHeight} pixels exceeds the limit of ${maxPixels}`,
      false,
    );
  }
  const rotated = (meta.orientation ?? 1) >= 5;
  return {
    format: meta.format,
    width: rotated ? pageHeight : meta.width,
    height: rotated ? meta.width : pageHeight,
    pages: meta.pages ?? 1,
    hasAlpha: meta.hasAlpha,
    orientation: meta.orientation,
    exif: cameraExif(meta.exif),
    hadMetadata: Boolean(meta.exif?.length || meta.xmp?.length || meta.iptc?.length),
  };
}

function encode(pipeline: Sharp, format: ThumbnailFormat | 'png', options: ImageOptions, hasAlpha: boolean): Sharp {
  switch (format) {
    case 'avif':
      return pipeline.avif({ quality: options.avifQuality, effort: options.avifEffort, chromaSubsampling: '4:2:0' });
    case 'webp':
      return pipeline.webp({ quality: options.webpQuality, effort: 4, smartSubsample: false });
    case 'png':
      return pipeline.png({ compressionLevel: 9, adaptiveFiltering: true });
    case 'jpeg':
      return (hasAlpha ? pipeline.flatten({ background: '#ffffff' }) : pipeline).jpeg({
        quality: options.jpegQuality,
        progressive: true,
        mozjpeg: false,
      });
  }
}

function fitInside(width: number, height: number, box: ThumbnailSize): { width: number; height: number } {
  const scale = Math.min(1, box.width / width, box.height / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Thumbnails at every size in every format, plus an optimized full-size copy. The input is decoded
 * once (auto-oriented, converted to sRGB, reduced to the largest box with shrink-on-load); each size
 * is resized from that, each format encoded from the size's pixels. No output carries any metadata:
 * sharp writes none unless asked (no EXIF, GPS, XMP, IPTC or ICC), and orientation is baked in.
 */
export async function renderImage(input: string | Buffer, options: ImageOptions, info?: ImageInfo): Promise<RenderResult> {
  const probed = info ?? (await probeImage(input, options.maxPixels));
  try {
    const largest = options.sizes[0]!;
    const base = await sharp(input, inputOptions(options.maxPixels))
      .resize(largest.width, largest.height, { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const raw = { width: base.info.width, height: base.info.height, channels: base.info.channels };
    const hasAlpha = raw.channels === 4 || raw.channels === 2;

    const thumbnails: Promise<RenderedImage>[] = [];
    for (const size of options.sizes) {
      const target = fitInside(probed.width, probed.height, size);
      const pixels =
        size === largest || (target.width >= raw.width && target.height >= raw.height)
          ? { data: base.data, info: raw }
          : await sharp(base.data, { raw })
              .resize(target.width, target.height, { fit: 'fill' })
              .raw()
              .toBuffer({ resolveWithObject: true })
              .then((r) => ({ data: r.data, info: { width: r.info.width, height: r.info.height, channels: r.info.channels } }));
      for (const format of options.formats) {
        thumbnails.push(
          encode(sharp(pixels.data, { raw: pixels.info }), format, options, hasAlpha)
            .toBuffer({ resolveWithObject: true })
            .then(({ data, info: out }) => ({ label: size.label, format, width: out.width, height: out.height, data })),
        );
      }
    }

    const optimized = options.optimize ? optimizeOriginal(input, options, probed) : Promise.resolve(undefined);
    return { info: probed, thumbnails: await Promise.all(thumbnails), optimized: await optimized };
  } catch (error) {
    throw imageError(error);
  }
}

const OPTIMIZED_FORMAT: Record<string, { format: ThumbnailFormat | 'png'; ext: string }> = {
  jpeg: { format: 'jpeg', ext: 'jpg' },
  png: { format: 'png', ext: 'png' },
  webp: { format: 'webp', ext: 'webp' },
  avif: { format: 'avif', ext: 'avif' },
  tiff: { format: 'jpeg', ext: 'jpg' },
  heif: { format: 'jpeg', ext: 'jpg' },
};

/** Full-size, upright, metadata-free re-encode; undefined for animations or when it would not help. */
async function optimizeOriginal(
  input: string | Buffer,
  options: ImageOptions,
  info: ImageInfo,
): Promise<RenderResult['optimized']> {
  const target = OPTIMIZED_FORMAT[info.format];
  if (!target || info.pages > 1) return undefined;
  const format = target.format === 'jpeg' && info.hasAlpha ? { format: 'png' as const, ext: 'png' } : target;
  const { data, info: out } = await encode(
    sharp(input, inputOptions(options.maxPixels)).toColourspace('srgb'),
    format.format,
    { ...options, jpegQuality: Math.max(options.jpegQuality, 82) },
    info.hasAlpha,
  ).toBuffer({ resolveWithObject: true });
  return { data, format: format.format, ext: format.ext, width: out.width, height: out.height };
}
