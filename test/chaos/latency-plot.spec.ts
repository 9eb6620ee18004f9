import type { Operation } from '@keyval/lincheck';
import { escapeXml, latencySvg } from './latency-plot';

const ops: Operation[] = [
  { process: 0, key: 'k', f: 'put', value: 'a', status: 'ok', callTime: 0, returnTime: 5 },
  { process: 1, key: 'k', f: 'get', output: 'a', status: 'ok', callTime: 10, returnTime: 12 },
  { process: 2, key: 'k', f: 'put', value: 'b', status: 'info', callTime: 20, returnTime: 5_020 },
  { process: 3, key: 'k', f: 'get', status: 'fail', callTime: 30, returnTime: 31 },
  { process: 4, key: 'k', f: 'put', value: 'c', status: 'info', callTime: 40, returnTime: null },
];

describe('latencySvg', () => {
  it('draws one dot per operation, coloured by outcome, and one band per fault window', () => {
    const svg = latencySvg(ops, [
      { label: 'kill:leader SIGKILL n1', startMs: 1_000, endMs: 3_000 },
      { label: 'partition:bridge <a> & "b"', startMs: 4_000, endMs: 4_500 },
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<circle /g)).toHaveLength(5);
    expect(svg.match(/fill="#2a9d4b"/g)).toHaveLength(2);
    expect(svg.match(/fill="#e08a00"/g)).toHaveLength(2);
    expect(svg.match(/fill="#c62828"/g)).toHaveLength(1);
    expect(svg.match(/<title>/g)).toHaveLength(2);
    expect(svg).toContain('partition:bridge &lt;a&gt; &amp; &quot;b&quot;');
    expect(svg).not.toMatch(/NaN|Infinity|<script|href=/);
  });

  it('thins the dots beyond maxDots and copes with an empty history', () => {
    const many: Operation[] = Array.from({ length: 1_000 }, (_, k) => ({ process: k, key: 'k', f: 'get', output: null, status: 'ok', callTime: k, returnTime: k + 1 }));
    expect(latencySvg(many, [], { maxDots: 100 }).match(/<circle /g)).toHaveLength(100);
    expect(latencySvg([], [])).not.toMatch(/NaN|Infinity/);
  });
});

describe('escapeXml', () => {
  it('escapes what matters in content and double-quoted attributes', () => {
    expect(escapeXml(`a<b>&"c"`)).toBe('a&lt;b&gt;&amp;&quot;c&quot;');
  });
});
