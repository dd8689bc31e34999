import { describe, expect, it } from 'vitest';
import { mcpSkillName, toolText } from './mcp.ts';

describe('mcpSkillName', () => {
  it('prefixes the server and keeps to the skill name pattern', () => {
    expect(mcpSkillName('files', 'read')).toBe('files_read');
    expect(mcpSkillName('files', 'read.file/v2')).toBe('files_read_file_v2');
    expect(mcpSkillName('web', 'fetch-url')).toBe('web_fetch-url');
    expect(mcpSkillName('s', 'x'.repeat(100))).toHaveLength(64);
  });
});

describe('toolText', () => {
  it('joins text parts and names the others', () => {
    expect(
      toolText({
        content: [
          { type: 'text', text: 'line 1' },
          { type: 'image', data: 'AAAA', mimeType: 'image/png' },
          { type: 'resource', resource: { uri: 'file:///a.txt', text: 'inline text' } },
          { type: 'resource', resource: { uri: 'file:///b.bin', blob: 'AAAA' } },
          { type: 'resource_link', uri: 'file:///c.txt', name: 'c' },
        ],
      }),
    ).toBe('line 1\n[image image/png]\ninline text\n[resource file:///b.bin]\n[resource file:///c.txt]');
  });

  it('falls back to structured content when there is no text, and to the old toolResult shape', () => {
    expect(toolText({ content: [], structuredContent: { total: 3 } })).toBe('{"total":3}');
    expect(toolText({ content: [{ type: 'text', text: 'three' }], structuredContent: { total: 3 } })).toBe(
      'three',
    );
    expect(toolText({ toolResult: { ok: true } })).toBe('{"ok":true}');
    expect(toolText({ content: [] })).toBe('');
  });
});
