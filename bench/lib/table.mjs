/** Formats a number for the table: three significant digits, thousands without decimals. */
function num(x) {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toPrecision(3);
}

/** The results as a markdown table: median (p99) per side, ratio of medians, target, PASS/MISS. */
export function formatTable(rows) {
  const lines = [
    '| benchmark | unit | conch median (p99) | floor / peer | floor median (p99) | ratio | target | result |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const spread = (s) => (s ? `${num(s.median)} (${num(s.p99)})` : '–');
    const target = r.target ? `${r.target.op} ${num(r.target.value)}` : '–';
    lines.push(`| ${r.title} | ${r.unit} | ${spread(r.conch)} | ${r.floorName ?? '–'} | ${spread(r.floor)} | ${r.ratio === undefined ? '–' : `${r.ratio.toFixed(2)}×`} | ${target} | ${r.result} |`);
  }
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.title}: ${r.note}`);
  return [...lines, ...(notes.length ? ['', ...notes] : [])].join('\n');
}
