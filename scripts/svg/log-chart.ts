/**
 * A line chart on log scales (both axes), for quantities that span decades: shards from 1 to 10,000,
 * calls from 3 to thousands. A zero, which no log scale holds, sits on its own "0" line below the first
 * decade; a missing value (null) breaks its series' line.
 */
import { el, round, text, type SvgElement } from "./svg";

export interface ChartPoint {
  x: number;
  y: number | null;
}

export interface ChartSeries {
  name: string;
  color: string;
  dashed?: boolean;
  points: ChartPoint[];
}

export interface LogChartSpec {
  /** What the panel shows, e.g. "Lambda invocations". */
  title: string;
  /** What the panel's `data-metric` attribute says. */
  metric: string;
  xLabel: string;
  yLabel: string;
  /** Where the panel sits and how big it is, in the document's units. */
  left: number;
  top: number;
  width: number;
  height: number;
  series: ChartSeries[];
  /** How a tick value reads (default: 1, 10, 100, 1k, 10k). */
  formatTick?: (value: number) => string;
}

/** 1, 10, 100, 1k, 10k, 100k, 1M. */
export function formatCount(value: number): string {
  if (value >= 1_000_000) return `${value / 1_000_000}M`;
  if (value >= 1_000) return `${value / 1_000}k`;
  return String(value);
}

/** The decades [10^lo, 10^hi] that hold every positive value (at least one decade). */
export function decades(values: readonly number[]): { lo: number; hi: number } {
  const positive = values.filter((v) => v > 0);
  if (positive.length === 0) return { lo: 0, hi: 1 };
  const lo = Math.floor(Math.log10(Math.min(...positive)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...positive))));
  return { lo, hi };
}

/** One panel: its frame, log axes with a tick per decade, and a polyline and markers per series. */
export function logChart(spec: LogChartSpec): SvgElement {
  const format = spec.formatTick ?? formatCount; // the y axis; shards always read 1, 10, 100, 1k, 10k
  const plot = { left: spec.left + 54, top: spec.top + 22, right: spec.left + spec.width - 18 };
  const bottom = spec.top + spec.height - 34;
  const xs = spec.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = spec.series.flatMap((s) => s.points.flatMap((p) => (p.y === null ? [] : [p.y])));
  const xRange = decades(xs);
  const yRange = decades(ys);
  const hasZero = ys.some((y) => y === 0);
  // A zero gets half a decade below the lowest one.
  const yLow = hasZero ? yRange.lo - 0.5 : yRange.lo;
  const xAt = (x: number) =>
    plot.left + ((Math.log10(x) - xRange.lo) / (xRange.hi - xRange.lo)) * (plot.right - plot.left);
  const yAt = (y: number) => {
    const position = y > 0 ? Math.log10(y) : yLow;
    return bottom - ((position - yLow) / (yRange.hi - yLow)) * (bottom - plot.top);
  };

  const xTicks: SvgElement[] = [];
  for (let d = xRange.lo; d <= xRange.hi; d++) {
    const x = xAt(10 ** d);
    xTicks.push(
      el("line", { x1: round(x), x2: round(x), y1: plot.top, y2: bottom, stroke: "#e5e5e5" }),
      text(x, bottom + 13, formatCount(10 ** d), { "text-anchor": "middle" }),
    );
  }
  const yTicks: SvgElement[] = [];
  const yTickValues = [
    ...(hasZero ? [0] : []),
    ...Array.from({ length: yRange.hi - yRange.lo + 1 }, (_, i) => 10 ** (yRange.lo + i)),
  ];
  for (const value of yTickValues) {
    const y = yAt(value);
    yTicks.push(
      el("line", { x1: plot.left, x2: plot.right, y1: round(y), y2: round(y), stroke: "#e5e5e5" }),
      text(plot.left - 4, y + 3.5, value === 0 ? "0" : format(value), { "text-anchor": "end" }),
    );
  }

  const lines = spec.series.map((series) => {
    // Consecutive known points form one line; a null breaks it.
    const runs: ChartPoint[][] = [[]];
    for (const point of series.points) {
      if (point.y === null) runs.push([]);
      else runs.at(-1)!.push(point);
    }
    const style = { stroke: series.color, "stroke-width": 1.6, fill: "none" };
    return el(
      "g",
      { class: "series", "data-series": series.name },
      ...runs
        .filter((run) => run.length > 1)
        .map((run) =>
          el("polyline", {
            ...style,
            "stroke-dasharray": series.dashed ? "5 3" : undefined,
            points: run.map((p) => `${round(xAt(p.x))},${round(yAt(p.y!))}`).join(" "),
          }),
        ),
      ...series.points
        .filter((p) => p.y !== null)
        .map((p) => el("circle", { cx: round(xAt(p.x)), cy: round(yAt(p.y!)), r: 2.5, fill: series.color })),
    );
  });

  return el(
    "g",
    { class: "panel", "data-metric": spec.metric },
    text((plot.left + plot.right) / 2, spec.top + 12, spec.title, {
      "text-anchor": "middle",
      "font-weight": "bold",
    }),
    el("g", { class: "axis x-axis", "data-scale": "log", "data-label": spec.xLabel }, ...xTicks),
    el("g", { class: "axis y-axis", "data-scale": "log", "data-label": spec.yLabel }, ...yTicks),
    el("rect", {
      x: plot.left,
      y: plot.top,
      width: round(plot.right - plot.left),
      height: round(bottom - plot.top),
      fill: "none",
      stroke: "#999",
    }),
    text((plot.left + plot.right) / 2, bottom + 27, spec.xLabel, { "text-anchor": "middle" }),
    text(spec.left + 10, (plot.top + bottom) / 2, spec.yLabel, {
      "text-anchor": "middle",
      transform: `rotate(-90 ${spec.left + 10} ${round((plot.top + bottom) / 2)})`,
    }),
    ...lines,
  );
}
