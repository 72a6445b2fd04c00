/** Express 5 types route params as string | string[] (wildcards); ours are plain segments. */
export function param(value: string | string[]): string {
  return Array.isArray(value) ? value.join('/') : value;
}
