/** The report's stylesheet: readable tables, a two-column grid of charts, print-friendly. */
export const REPORT_CSS = `
:root { --fg: #1f2328; --dim: #656d76; --line: #d0d7de; --bg2: #f6f8fa; --up: #1a7f37; --down: #cf222e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); margin: 0; }
header { padding: 18px 28px 12px; border-bottom: 1px solid var(--line); background: var(--bg2); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .meta { color: var(--dim); }
main { padding: 8px 28px 40px; max-width: 1400px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; }
th { background: var(--bg2); font-weight: 600; }
td.num { text-align: right; }
td.strong { font-weight: 600; }
td.up { color: var(--up); font-weight: 600; text-align: right; }
td.down { color: var(--down); font-weight: 600; text-align: right; }
.dim { color: var(--dim); font-weight: normal; }
.lead { font-size: 15px; margin: 14px 0; padding: 10px 14px; border-left: 4px solid #1f6feb; background: #f0f6ff; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px 22px; }
@media (max-width: 1000px) { .charts { grid-template-columns: 1fr; } }
.chart { min-height: 300px; }
.confusions { display: flex; flex-wrap: wrap; gap: 18px; }
figure.confusion { margin: 0; }
figure.confusion figcaption { margin-bottom: 4px; }
table.heat td, table.heat th { padding: 2px 6px; text-align: center; min-width: 34px; font-size: 12px; }
pre { background: var(--bg2); border: 1px solid var(--line); padding: 10px 12px; overflow: auto; font-size: 12.5px; }
table.maps td { text-align: center; vertical-align: top; }
canvas.map { image-rendering: pixelated; width: 96px; height: 96px; }
img.synth { image-rendering: pixelated; width: 690px; max-width: 100%; border: 1px solid #ddd; }
details > summary { cursor: pointer; font-weight: 600; margin: 10px 0; }
nav a { margin-right: 14px; }
`;
