import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ProcessingError } from '../domain.js';

export interface ToolStatus {
  available: boolean;
  path: string;
  version?: string;
}

export interface MediaTools {
  ffmpeg: ToolStatus;
  ffprobe: ToolStatus;
  pdftoppm: ToolStatus;
  pdfinfo: ToolStatus;
}

export interface ToolPaths {
  ffmpeg: string;
  ffprobe: string;
  pdftoppm: string;
  pdfinfo: string;
  timeoutMs: number;
}

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, killSignal: 'SIGKILL', windowsHide: true },
      (error, stdout, stderr) => {
        if (error) {
          const detail = String(stderr || '').trim().split('\n').slice(-2).join(' ').slice(0, 300);
          reject(Object.assign(error, { detail }));
        } else {
          resolve({ stdout: String(stdout), stderr: String(stderr) });
        }
      },
    );
  });
}

async function probeTool(file: string, args: string[], timeoutMs: number): Promise<ToolStatus> {
  try {
    const { stdout, stderr } = await run(file, args, Math.min(timeoutMs, 10_000));
    const line = `${stdout}\n${stderr}`.split('\n').find((l) => /version/i.test(l));
    return { available: true, path: file, version: line?.trim().slice(0, 120) };
  } catch (error) {
    // pdftoppm/pdfinfo -v exit 0 on poppler ≥ 22 but 99 on older ones, yet print their version.
    const detail = (error as { code?: unknown; detail?: string }).code;
    if (typeof detail === 'number') {
      return { available: true, path: file };
    }
    return { available: false, path: file };
  }
}

/** Which external media tools exist on this machine (checked once at start, reported in /ready). */
export async function detectMediaTools(paths: ToolPaths): Promise<MediaTools> {
  const [ffmpeg, ffprobe, pdftoppm, pdfinfo] = await Promise.all([
    probeTool(paths.ffmpeg, ['-hide_banner', '-version'], paths.timeoutMs),
    probeTool(paths.ffprobe, ['-hide_banner', '-version'], paths.timeoutMs),
    probeTool(paths.pdftoppm, ['-v'], paths.timeoutMs),
    probeTool(paths.pdfinfo, ['-v'], paths.timeoutMs),
  ]);
  return { ffmpeg, ffprobe, pdftoppm, pdfinfo };
}

function toolError(tool: string, error: unknown): ProcessingError {
  const e = error as { killed?: boolean; detail?: string; message?: string };
  const reason = e.killed ? 'timed out' : e.detail || e.message || 'failed';
  return new ProcessingError('MEDIA_TOOL_FAILED', `${tool} could not read the file: ${reason}`, false, { cause: error });
}

export interface VideoInfo {
  durationMs?: number;
  width?: number;
  height?: number;
}

/** Duration and size of the first video stream (ffprobe). */
export async function probeVideo(paths: ToolPaths, input: string): Promise<VideoInfo> {
  try {
    const { stdout } = await run(
      paths.ffprobe,
      ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', '-select_streams', 'v:0', input],
      paths.timeoutMs,
    );
    const parsed = JSON.parse(stdout) as {
      format?: { duration?: string };
      streams?: { width?: number; height?: number; duration?: string }[];
    };
    const stream = parsed.streams?.[0];
    const seconds = Number(parsed.format?.duration ?? stream?.duration);
    return {
      durationMs: Number.isFinite(seconds) ? Math.round(seconds * 1000) : undefined,
      width: stream?.width,
      height: stream?.height,
    };
  } catch (error) {
    throw toolError('ffprobe', error);
  }
}

/** One frame (PNG) a little into the video: at 10% of its length, at most 1 s in. */
export async function videoPoster(paths: ToolPaths, input: string, workDir: string, durationMs?: number): Promise<Buffer> {
  const output = path.join(workDir, 'poster.png');
  const at = durationMs ? Math.min(1, (durationMs / 1000) * 0.1) : 0;
  const grab = (seconds: number) =>
    run(
      paths.ffmpeg,
      ['-nostdin', '-v', 'error', '-y', '-ss', seconds.toFixed(3), '-i', input, '-frames:v', '1', '-an', '-f', 'image2', '-c:v', 'png', output],
      paths.timeoutMs,
    );
  try {
    await grab(at);
    try {
      return await readFile(output);
    } catch {
      // Seeking past a very short clip yields no frame: take the first one.
      await grab(0);
      return await readFile(output);
    }
  } catch (error) {
    throw toolError('ffmpeg', error);
  } finally {
    await rm(output, { force: true });
  }
}

/** Page count and first-page size in points (pdfinfo), and the first page rendered to PNG (pdftoppm), longest side ≤ maxSide. */
export async function pdfFirstPage(
  paths: ToolPaths,
  input: string,
  workDir: string,
  maxSide: number,
  withInfo: boolean,
): Promise<{ page: Buffer; pages?: number; widthPt?: number; heightPt?: number }> {
  const prefix = path.join(workDir, 'page');
  try {
    let pages: number | undefined;
    let widthPt: number | undefined;
    let heightPt: number | undefined;
    if (withInfo) {
      const { stdout } = await run(paths.pdfinfo, [input], paths.timeoutMs);
      const match = /^Pages:\s+(\d+)/m.exec(stdout);
      pages = match ? Number(match[1]) : undefined;
      const size = /^Page size:\s+([\d.]+) x ([\d.]+) pts/m.exec(stdout);
      if (size) {
        widthPt = Math.round(Number(size[1]));
        heightPt = Math.round(Number(size[2]));
      }
    }
    await run(
      paths.pdftoppm,
      ['-f', '1', '-l', '1', '-png', '-singlefile', '-scale-to', String(maxSide), input, prefix],
      paths.timeoutMs,
    );
    return { page: await readFile(`${prefix}.png`), pages, widthPt, heightPt };
  } catch (error) {
    throw toolError('pdftoppm', error);
  } finally {
    await rm(`${prefix}.png`, { force: true });
  }
}
