/**
 * How `forge run`, `forge resume` and `forge demo` show a run: a live tree with streamed tokens
 * on a terminal, plain lines when piped, or JSON lines with `--json`.
 */
import type { RunEvent } from '../runtime/events.ts';
import type { RunResult } from '../runtime/run.ts';

export interface Renderer {
  event(event: RunEvent): void;
  result(result: RunResult): void;
}

export interface RenderOptions {
  json: boolean;
  /** Colours and live token streaming (default: when stdout is a TTY). */
  tty: boolean;
  write: (text: string) => void;
}

/** ANSI styles that are identity functions when `tty` is false (piped output stays plain text). */
export const colours = (tty: boolean) => ({
  dim: (s: string) => (tty ? `\x1b[2m${s}\x1b[22m` : s),
  bold: (s: string) => (tty ? `\x1b[1m${s}\x1b[22m` : s),
  green: (s: string) => (tty ? `\x1b[32m${s}\x1b[39m` : s),
  red: (s: string) => (tty ? `\x1b[31m${s}\x1b[39m` : s),
  cyan: (s: string) => (tty ? `\x1b[36m${s}\x1b[39m` : s),
  yellow: (s: string) => (tty ? `\x1b[33m${s}\x1b[39m` : s),
});

export function createRenderer(options: RenderOptions): Renderer {
  if (options.json) {
    return {
      event: (event) => options.write(`${JSON.stringify(event)}\n`),
      result: (result) =>
        options.write(`${JSON.stringify({ type: 'result', ...result, error: result.error?.toJSON() })}\n`),
    };
  }
  const k = colours(options.tty);
  const w = options.write;
  let streaming = false;
  const endStream = () => {
    if (streaming) w('\n');
    streaming = false;
  };
  const indent = (path: readonly string[]) => '  '.repeat(Math.max(0, path.length - 1));
  return {
    event(e) {
      const pad = indent(e.path);
      switch (e.type) {
        case 'run-start':
          w(`${k.bold(`▶ ${e.council}`)} ${k.dim(e.runId)}\n${k.dim(`  input: ${oneLine(e.input, 200)}`)}\n`);
          break;
        case 'run-resume':
          w(
            `${k.yellow('↻')} resumed from the journal ${k.dim(`(attempt ${e.attempt}, ${e.journaledSteps} journaled steps)`)}\n`,
          );
          break;
        case 'step-replayed':
          endStream();
          w(`${pad}  ${k.dim(`⟲ replayed ${e.key}`)}\n`);
          break;
        case 'agent-start':
          endStream();
          w(`${pad}${k.cyan('●')} ${k.bold(e.agent)} ${k.dim(`on ${e.model}`)}\n`);
          break;
        case 'model-call-error':
          endStream();
          w(`${pad}  ${k.yellow('!')} ${e.model}: ${oneLine(e.error.message, 160)}\n`);
          break;
        case 'model-fallback':
          w(`${pad}  ${k.yellow('↪')} falling back from ${e.from} to ${e.to}\n`);
          break;
        case 'model-warning':
          endStream();
          for (const warning of e.warnings) w(`${pad}  ${k.dim(`⚠ ${e.model}: ${oneLine(warning, 160)}`)}\n`);
          break;
        case 'tool-call-start':
          endStream();
          w(`${pad}  ${k.dim('⚙')} ${e.tool}(${oneLine(JSON.stringify(e.input) ?? '', 100)})\n`);
          break;
        case 'tool-call-finish':
          w(`${pad}    ${k.dim(`→ ${oneLine(JSON.stringify(e.output) ?? '', 160)} (${e.durationMs} ms)`)}\n`);
          break;
        case 'tool-call-error':
          w(`${pad}    ${k.red(`✗ ${e.tool}: ${oneLine(e.error.message, 160)}`)}\n`);
          break;
        case 'token-delta':
          if (!options.tty) break;
          if (!streaming) w(`${pad}  `);
          streaming = true;
          w(e.delta.replaceAll('\n', `\n${pad}  `));
          break;
        case 'agent-finish':
          endStream();
          if (!options.tty) w(`${pad}  ${oneLine(e.output, 400)}\n`);
          w(
            `${pad}  ${k.green('✓')} ${k.dim(`${e.durationMs} ms · ${e.usage.inputTokens + e.usage.outputTokens} tokens · ${e.usage.modelCalls} model calls`)}\n`,
          );
          break;
        case 'agent-error':
          endStream();
          w(`${pad}  ${k.red(`✗ ${e.agent}: ${e.error.message}`)}\n`);
          break;
        default:
          break;
      }
    },
    result(result) {
      endStream();
      const u = result.usage;
      const cost = u.costUsd > 0 ? ` · $${u.costUsd.toFixed(6)}` : '';
      if (result.status === 'succeeded') {
        w(`\n${k.bold('Result')}\n${result.output}\n`);
        w(
          k.dim(
            `\n${result.durationMs} ms · ${u.inputTokens} in / ${u.outputTokens} out tokens · ${u.modelCalls} model calls${cost}\n`,
          ),
        );
      } else {
        // The error itself is printed to stderr by the command.
        w(`\n${k.red(`Run ${result.status}`)} ${k.dim(`after ${result.durationMs} ms`)}\n`);
      }
    },
  };
}

/** `text` on one line (whitespace runs collapsed), cut to `max` characters with an ellipsis. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
