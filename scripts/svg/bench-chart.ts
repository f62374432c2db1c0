/**
 * `npm run bench -- --svg FILE`: the bench's runs as a picture. A panel per measure (resume latency, Lambda
 * invocations, Batch calls, jobs left running) and job duration, each against shards, both on log scales;
 * a series per design and submit mode (solid: one array job, dashed: one job per shard).
 */
import type { BenchDesign, BenchRun } from "../bench";
import { formatDuration } from "../../local/runner/scenario";
import type { Summary } from "../../local/runner/run";
import { formatCount, logChart, type ChartSeries } from "./log-chart";
import { el, svgDocument, text, type SvgElement } from "./svg";

/** What a panel measures, from a run's summary (null: not measured, e.g. no resume after a failure). */
export const benchMeasures: {
  metric: string;
  title: string;
  unit: string;
  value(s: Summary): number | null;
}[] = [
  {
    metric: "resume",
    title: "Resume latency",
    unit: "seconds",
    value: (s) => s.resumeLatencySeconds,
  },
  {
    metric: "lambda",
    title: "Lambda invocations",
    unit: "invocations",
    value: (s) => Object.values(s.lambdaInvocations).reduce((sum, n) => sum + n, 0),
  },
  { metric: "batch", title: "Batch API calls", unit: "calls", value: (s) => s.batchApiCalls },
  { metric: "left", title: "Jobs left running", unit: "jobs", value: (s) => s.jobsLeftRunning },
];

const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const panelWidth = 260;
const panelHeight = 210;

/** The series' name: the design's label and, for a design with both, the submit mode. */
export function seriesName(design: BenchDesign, mode: string): string {
  return `${design.label} (${mode === "array" ? "one array job" : "one job per shard"})`;
}

/** The SVG document of the bench's runs. */
export function benchChartSvg(runs: readonly BenchRun[], designs: readonly BenchDesign[]): string {
  const durations = [...new Set(runs.map((r) => r.jobDurationSeconds))].sort((a, b) => a - b);
  const series = (duration: number, measure: (typeof benchMeasures)[number]): ChartSeries[] =>
    designs.flatMap((design, d) =>
      ["array", "jobs"].flatMap((mode) => {
        const points = runs
          .filter((r) => r.design === design.name && r.mode === mode && r.jobDurationSeconds === duration)
          .sort((a, b) => a.shards - b.shards)
          .map((r) => ({ x: r.shards, y: measure.value(r.summary) }));
        if (points.length === 0) return [];
        return [
          {
            name: seriesName(design, mode),
            color: palette[d % palette.length],
            dashed: mode === "jobs",
            points,
          },
        ];
      }),
    );
  const top = 36;
  const panels: SvgElement[] = durations.flatMap((duration, row) =>
    benchMeasures.map((measure, column) =>
      logChart({
        title: `${measure.title}, ${formatDuration(duration)} jobs`,
        metric: `${measure.metric}-${duration}`,
        xLabel: "shards",
        yLabel: measure.unit,
        left: column * panelWidth,
        top: top + row * panelHeight,
        width: panelWidth,
        height: panelHeight,
        series: series(duration, measure),
        formatTick: measure.metric === "resume" ? (v) => `${v}s` : formatCount,
      }),
    ),
  );
  const legendTop = top + durations.length * panelHeight + 8;
  // A row per design: its array-job series on the left, its job-per-shard series on the right.
  const legendEntries = designs.flatMap((design, d) =>
    ["array", "jobs"]
      .filter((mode) => runs.some((r) => r.design === design.name && r.mode === mode))
      .map((mode) => ({
        name: seriesName(design, mode),
        color: palette[d % palette.length],
        dashed: mode === "jobs",
        x: (mode === "array" ? 0 : 2 * panelWidth) + 16,
        y: legendTop + d * 16,
      })),
  );
  const legend = el(
    "g",
    { class: "legend" },
    ...legendEntries.map((entry) =>
      el(
        "g",
        { class: "legend-entry", "data-series": entry.name },
        el("line", {
          x1: entry.x,
          x2: entry.x + 28,
          y1: entry.y,
          y2: entry.y,
          stroke: entry.color,
          "stroke-width": 2,
          "stroke-dasharray": entry.dashed ? "5 3" : undefined,
        }),
        text(entry.x + 34, entry.y + 4, entry.name),
      ),
    ),
  );
  const width = benchMeasures.length * panelWidth;
  const height = legendTop + designs.length * 16 + 8;
  const title =
    "Local bench: one execution per point, simulated time; log scales (a zero sits on the 0 line)";
  return svgDocument(width, height, title, [
    text(width / 2, 20, title, { "text-anchor": "middle", "font-size": 13, "font-weight": "bold" }),
    ...panels,
    legend,
  ]);
}
