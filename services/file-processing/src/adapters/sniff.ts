import { fileTypeFromBuffer } from 'file-type';

/** Bytes file-type needs to recognise every format it knows. */
export const SNIFF_BYTES = 4100;

export interface SniffedType {
  mime: string;
  ext: string;
}

const SCRIPT_MARKERS = [/^#!/, /<\?php/i, /<script[\s>]/i, /<svg[\s>]/i, /<html[\s>]/i, /<!doctype html/i];

function looksLikeText(head: Buffer): boolean {
  if (!head.length) return false;
  if (head.includes(0)) return false;
  const text = head.toString('utf8');
  // Replacement characters mean invalid UTF-8 (binary data), except at a cut multi-byte tail.
  const invalid = (text.slice(0, -1).match(/\uFFFD/g) ?? []).length;
  return invalid === 0;
}

/**
 * The real type of a file from its first bytes (magic numbers), never from its name or the client's
 * Content-Type. Text is reported as text/plain, or as an executable/markup type when it looks like a
 * script or markup (SVG, HTML, PHP, shell), so an allow-list such as image/* never admits it.
 */
export async function sniffType(head: Buffer): Promise<SniffedType> {
  const detected = await fileTypeFromBuffer(head);
  if (detected) return { mime: detected.mime, ext: detected.ext };
  if (looksLikeText(head)) {
    const start = head.subarray(0, 1024).toString('utf8').trimStart();
    if (SCRIPT_MARKERS.some((re) => re.test(start))) {
      if (/^<svg|<svg[\s>]/i.test(start)) return { mime: 'image/svg+xml', ext: 'svg' };
      if (/<html|<!doctype html/i.test(start)) return { mime: 'text/html', ext: 'html' };
      return { mime: 'application/x-executable-script', ext: 'txt' };
    }
    return { mime: 'text/plain', ext: 'txt' };
  }
  return { mime: 'application/octet-stream', ext: 'bin' };
}

/** Types that can carry script when served; wildcards never admit them, only an exact entry does. */
const ACTIVE_CONTENT = new Set(['image/svg+xml', 'text/html', 'application/x-executable-script']);

/** Matches a MIME type against patterns such as image/*, application/pdf, * or *\/*. */
export function isAllowedType(mime: string, patterns: string[]): boolean {
  const [type] = mime.split('/');
  return patterns.some((raw) => {
    const pattern = raw.toLowerCase();
    if (ACTIVE_CONTENT.has(mime)) return pattern === mime;
    if (pattern === '*' || pattern === '*/*') return true;
    if (pattern.endsWith('/*')) return pattern.slice(0, -2) === type;
    return pattern === mime;
  });
}
