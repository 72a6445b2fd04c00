import Handlebars from 'handlebars';
import type { TemplateDelegate } from 'handlebars';
import { AppError, Errors, type FieldError } from '@nself/errors';
import { CHANNELS, type Channel } from '../config.js';
import { channelAllows, type RenderedContent } from './types.js';

/** A declared template variable. */
export interface VariableDeclaration {
  name: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

/** The renderable parts of a template (the columns of notification_templates). */
export interface TemplateParts {
  subject?: string | null;
  bodyText?: string | null;
  bodyHtml?: string | null;
  pushTitle?: string | null;
  pushBody?: string | null;
  smsBody?: string | null;
}

export interface TemplateSource extends TemplateParts {
  id: string;
  name: string;
  version: number;
  variables: VariableDeclaration[];
}

type PartName = keyof TemplateParts;
const PARTS: PartName[] = ['subject', 'bodyText', 'bodyHtml', 'pushTitle', 'pushBody', 'smsBody'];
/** Only the HTML body is HTML-escaped; subjects, text, push and SMS are plain text. */
const HTML_PARTS = new Set<PartName>(['bodyHtml']);
const CHANNEL_PARTS: Record<Channel, PartName[]> = {
  email: ['subject', 'bodyText', 'bodyHtml'],
  push: ['pushTitle', 'pushBody'],
  sms: ['smsBody'],
};
const CONTENT_KEY: Record<PartName, keyof RenderedContent> = {
  subject: 'subject',
  bodyText: 'text',
  bodyHtml: 'html',
  pushTitle: 'title',
  pushBody: 'body',
  smsBody: 'sms',
};

export const SMS_MAX_CHARS = 1600;
export const PUSH_MAX_BYTES = 3800;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const BLOCK_HELPERS_WITH_NEW_CONTEXT = new Set(['each', 'with']);

// One isolated Handlebars environment: built-in helpers only (knownHelpersOnly), no partials, and
// prototype access stays blocked (Handlebars' default since 4.6).
const handlebars = Handlebars.create();
const COMPILE_OPTIONS = { strict: true, knownHelpersOnly: true } as const;

function compile(source: string, part: PartName): TemplateDelegate {
  return handlebars.compile(source, { ...COMPILE_OPTIONS, noEscape: !HTML_PARTS.has(part) });
}

/**
 * The top-level data names a template reads: paths outside `#each`/`#with` blocks, plus `@root.x`
 * and `../x` inside them. `this`, `@index` and block-local names are not variables.
 */
export function referencedVariables(source: string): Set<string> {
  const found = new Set<string>();
  const visitPath = (path: hbs.AST.PathExpression, depth: number) => {
    const original = path.original;
    if (path.data) {
      if (original.startsWith('@root.')) found.add(original.slice('@root.'.length).split(/[./]/)[0]!);
      return;
    }
    if (path.parts.length === 0) return; // `this`
    if (path.depth > 0 ? path.depth >= depth : depth === 0) found.add(path.parts[0]!);
  };
  const visitExpr = (node: hbs.AST.Expression, depth: number) => {
    if (node.type === 'PathExpression') visitPath(node as hbs.AST.PathExpression, depth);
    else if (node.type === 'SubExpression') visitCall(node as hbs.AST.SubExpression, depth);
  };
  const visitCall = (node: hbs.AST.MustacheStatement | hbs.AST.BlockStatement | hbs.AST.SubExpression, depth: number) => {
    const isHelperCall = node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0 || node.type === 'BlockStatement';
    // `{{name}}` reads a variable; `{{#if name}}` calls the helper `if` with the variable as a parameter.
    if (!isHelperCall) visitExpr(node.path as hbs.AST.Expression, depth);
    for (const param of node.params) visitExpr(param, depth);
    for (const pair of node.hash?.pairs ?? []) visitExpr(pair.value, depth);
  };
  const visitProgram = (program: hbs.AST.Program | undefined, depth: number) => {
    for (const statement of program?.body ?? []) {
      if (statement.type === 'MustacheStatement') visitCall(statement as hbs.AST.MustacheStatement, depth);
      else if (statement.type === 'BlockStatement') {
        const block = statement as hbs.AST.BlockStatement;
        visitCall(block, depth);
        const helper = (block.path as hbs.AST.PathExpression).original;
        const inner = BLOCK_HELPERS_WITH_NEW_CONTEXT.has(helper) ? depth + 1 : depth;
        visitProgram(block.program, inner);
        visitProgram(block.inverse, depth);
      }
    }
  };
  visitProgram(handlebars.parse(source), 0);
  return found;
}

/** The channels a template can render: those whose required parts are present. */
export function channelsOf(parts: TemplateParts): Channel[] {
  return CHANNELS.filter((channel) =>
    channel === 'email'
      ? Boolean(parts.subject && (parts.bodyText || parts.bodyHtml))
      : channel === 'push'
        ? Boolean(parts.pushTitle || parts.pushBody)
        : Boolean(parts.smsBody),
  );
}

/**
 * Checks a template on create/update: every part compiles, the variables are well-formed, and (when
 * variables are declared) every variable the template reads is declared. Without declarations the
 * variables are inferred, all required. Returns the declarations to store and the channels.
 */
export function validateTemplate(
  parts: TemplateParts,
  declared: VariableDeclaration[] | undefined,
  requestedChannels: Channel[] | undefined,
): { variables: VariableDeclaration[]; channels: Channel[] } {
  const errors: FieldError[] = [];
  const referenced = new Set<string>();
  for (const part of PARTS) {
    const source = parts[part];
    if (!source) continue;
    try {
      // precompile parses and compiles without running: syntax errors and unknown helpers surface here.
      handlebars.precompile(source, { ...COMPILE_OPTIONS, noEscape: !HTML_PARTS.has(part) });
      referencedVariables(source).forEach((v) => referenced.add(v));
    } catch (error) {
      errors.push({ field: part, code: 'INVALID_TEMPLATE', message: (error as Error).message.split('\n')[0]! });
    }
  }
  if (errors.length) throw new AppError('INVALID_TEMPLATE', 400, 'The template does not compile', { errors });

  const available = channelsOf(parts);
  const channels = requestedChannels?.length ? requestedChannels : available;
  if (!channels.length) {
    throw Errors.badRequest(
      'TEMPLATE_HAS_NO_CHANNEL',
      'A template needs subject + text/html (email), a push title/body (push) or an SMS body (sms)',
    );
  }
  for (const channel of channels) {
    if (!available.includes(channel)) {
      errors.push({
        field: 'channels',
        code: 'CHANNEL_PARTS_MISSING',
        message: `channel ${channel} needs ${CHANNEL_PARTS[channel].join('/')} (email: subject and a body)`,
      });
    }
  }

  let variables: VariableDeclaration[];
  if (declared) {
    const names = new Set<string>();
    declared.forEach((v, i) => {
      if (!VARIABLE_NAME.test(v.name)) {
        errors.push({ field: `variables.${i}.name`, code: 'INVALID_VARIABLE_NAME', message: 'must be an identifier' });
      }
      if (names.has(v.name)) errors.push({ field: `variables.${i}.name`, code: 'DUPLICATE_VARIABLE', message: v.name });
      names.add(v.name);
    });
    for (const name of referenced) {
      if (!names.has(name)) {
        errors.push({
          field: 'variables',
          code: 'UNDECLARED_VARIABLE',
          message: `the template uses "${name}", which is not declared`,
        });
      }
    }
    variables = declared;
  } else {
    variables = [...referenced].sort().map((name) => ({ name, required: true }));
  }
  if (errors.length) throw new AppError('INVALID_TEMPLATE', 400, 'The template is not valid', { errors });
  return { variables, channels };
}

const compiled = new Map<string, TemplateDelegate>();
const MAX_COMPILED = 2000;

function compiledPart(template: TemplateSource, part: PartName): TemplateDelegate {
  const key = `${template.id}:${template.version}:${part}`;
  let fn = compiled.get(key);
  if (!fn) {
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    fn = compile(template[part]!, part);
    compiled.set(key, fn);
  }
  return fn;
}

/**
 * Fills the data for rendering: required variables must be present (422 MISSING_VARIABLE listing
 * them); optional ones take their default, else null (so strict rendering accepts them).
 */
export function prepareData(template: TemplateSource, data: Record<string, unknown>): Record<string, unknown> {
  const missing = template.variables.filter((v) => v.required && (data[v.name] === undefined || data[v.name] === null));
  if (missing.length) {
    throw new AppError(
      'MISSING_VARIABLE',
      422,
      `Template "${template.name}" needs ${missing.map((v) => `"${v.name}"`).join(', ')}`,
      { errors: missing.map((v) => ({ field: `data.${v.name}`, code: 'MISSING_VARIABLE', message: 'is required' })) },
    );
  }
  const filled: Record<string, unknown> = { ...data };
  for (const v of template.variables) {
    if (filled[v.name] === undefined) filled[v.name] = v.default ?? null;
  }
  return filled;
}

/** Renders the parts of one channel in strict mode; a missing (nested) value is a 422. */
export function renderForChannel(
  template: TemplateSource,
  channel: Channel,
  data: Record<string, unknown>,
): RenderedContent {
  const content: RenderedContent = {};
  for (const part of CHANNEL_PARTS[channel]) {
    if (!template[part]) continue;
    try {
      content[CONTENT_KEY[part]] = compiledPart(template, part)(data);
    } catch (error) {
      const message = (error as Error).message.replace(/ in \[object Object\]/, '');
      throw new AppError('MISSING_VARIABLE', 422, `Template "${template.name}" (${part}): ${message}`, {
        errors: [{ field: 'data', code: 'MISSING_VARIABLE', message }],
      });
    }
  }
  if (!channelAllows(channel, content)) {
    throw Errors.unprocessable('CHANNEL_NOT_SUPPORTED', `Template "${template.name}" has no ${channel} content`);
  }
  if (content.sms && content.sms.length > SMS_MAX_CHARS) {
    throw Errors.unprocessable('CONTENT_TOO_LONG', `The rendered SMS is longer than ${SMS_MAX_CHARS} characters`);
  }
  if (channel === 'push' && Buffer.byteLength(`${content.title ?? ''}${content.body ?? ''}`) > PUSH_MAX_BYTES) {
    throw Errors.unprocessable('CONTENT_TOO_LONG', `The rendered push message is larger than ${PUSH_MAX_BYTES} bytes`);
  }
  return content;
}

/** The digest template used when an app has not created its own (NOTIFICATIONS_DIGEST_TEMPLATE). */
export const DEFAULT_DIGEST_TEMPLATE: Omit<TemplateSource, 'id'> = {
  name: 'digest',
  version: 1,
  variables: [
    { name: 'count', required: true },
    { name: 'category', required: true },
    { name: 'items', required: true },
  ],
  subject: 'You have {{count}} new {{category}} notifications',
  bodyText: '{{#each items}}- {{#if subject}}{{subject}}{{else}}{{title}}{{/if}}\n{{/each}}',
  bodyHtml:
    '<h1>{{count}} new {{category}} notifications</h1><ul>{{#each items}}<li>{{#if subject}}{{subject}}{{else}}{{title}}{{/if}}</li>{{/each}}</ul>',
  pushTitle: '{{count}} new {{category}} notifications',
  pushBody: '{{#each items}}{{#if title}}{{title}}{{else}}{{subject}}{{/if}}; {{/each}}',
  smsBody: '{{count}} new {{category}} notifications',
};
