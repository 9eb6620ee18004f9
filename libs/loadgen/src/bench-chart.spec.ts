import { escapeXml, renderLineChart } from './bench-chart';

describe('renderLineChart', () => {
  const chart = {
    title: 'Put, 3 members: writes/s <by clients>',
    x: [1, 16, 64, 256],
    xLabel: 'clients',
    yLabel: 'writes/s',
    series: [
      { name: 'KeyVal', values: [400, 3000, 7000, 9800] },
      { name: 'etcd', values: [1000, 4000, Number.NaN, 11000] },
    ],
  };

  it('draws one line per system through its finite points, with a legend and escaped text', () => {
    const svg = renderLineChart(chart);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const lines = [...svg.matchAll(/<polyline class="series" data-name="([^"]+)"[^>]* points="([^"]*)"/g)];
    expect(lines.map((m) => m[1])).toEqual(['KeyVal', 'etcd']);
    expect(lines.map((m) => (m[2] as string).split(' ').length)).toEqual([4, 3]);
    expect(svg).toContain('Put, 3 members: writes/s &lt;by clients&gt;');
    expect(svg).not.toContain('<by clients>');
    expect((svg.match(/<circle /g) ?? []).length).toBe(7);
  });

  it('puts the highest point inside the plot, under the top grid line', () => {
    const svg = renderLineChart(chart);
    const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(40);
  });

  it('refuses a series whose length does not match the x values', () => {
    expect(() => renderLineChart({ ...chart, series: [{ name: 'short', values: [1] }] })).toThrow(/series "short" .* has 1 values for 4 x values/);
    expect(() => renderLineChart({ ...chart, x: [], series: [] })).toThrow(/has no x values/);
  });

  it('escapes the five XML specials', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});
