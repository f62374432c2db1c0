/**
 * `npm start -- --timeline FILE.svg`: one local execution as a picture. Over simulated time: the jobs by
 * state, stacked (the jobs the bridge terminated apart from those that failed); under them a lane per step,
 * spanning the time it ran; and the answer, as the summary gives it.
 */
import type { Progress, Summary } from "../../local/runner/run";
import { formatDuration } from "../../local/runner/scenario";
import { el, round, svgDocument, text, type SvgElement } from "./svg";

/** The bands, bottom to top, in the order a job goes through its states. */
export const timelineStates = [
  "SUCCEEDED",
  "FAILED",
  "TERMINATED",
  "RUNNING",
  "STARTING",
  "RUNNABLE",
  "PENDING",
  "SUBMITTED",
] as const;
type TimelineState = (typeof timelineStates)[number];

const stateColors: Record<TimelineState, string> = {
  SUCCEEDED: "#2ca02c",
  FAILED: "#d62728",
  TERMINATED: "#ff9896",
  RUNNING: "#1f77b4",
  STARTING: "#9edae5",
  RUNNABLE: "#ffbb78",
  PENDING: "#c7c7c7",
  SUBMITTED: "#dbdb8d",
};

const stateLabels: Record<TimelineState, string> = {
  SUCCEEDED: "SUCCEEDED",
  FAILED: "FAILED",
  TERMINATED: "FAILED (terminated by the bridge)",
  RUNNING: "RUNNING",
  STARTING: "STARTING",
  RUNNABLE: "RUNNABLE",
  PENDING: "PENDING",
  SUBMITTED: "SUBMITTED",
};

/** A sample's jobs by timeline state: FAILED split into failed and terminated by the bridge. */
function countsOf(sample: Progress): Record<TimelineState, number> {
  const jobs = sample.jobs as Record<string, number>;
  const terminated = Math.min(sample.jobsTerminated, jobs.FAILED ?? 0);
  return {
    SUCCEEDED: jobs.SUCCEEDED ?? 0,
    FAILED: (jobs.FAILED ?? 0) - terminated,
    TERMINATED: terminated,
    RUNNING: jobs.RUNNING ?? 0,
    STARTING: jobs.STARTING ?? 0,
    RUNNABLE: jobs.RUNNABLE ?? 0,
    PENDING: jobs.PENDING ?? 0,
    SUBMITTED: jobs.SUBMITTED ?? 0,
  };
}

/** Ticks of a time axis from 0 to `end` seconds: at most about 8, on round durations. */
export function timeTicks(end: number): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
  const step = steps.find((s) => end / s <= 8) ?? Math.ceil(end / 8 / 86400) * 86400;
  const ticks: number[] = [];
  for (let t = 0; t <= end + 1e-9; t += step) ticks.push(t);
  return ticks;
}

/** The steps' spans, from the samples: a step runs from the first sample naming it to the next step's, the last to `end`. */
export function stepSpans(
  samples: readonly Progress[],
  end: number,
): { step: string; from: number; to: number }[] {
  const spans: { step: string; from: number; to: number }[] = [];
  for (const sample of samples) {
    if (sample.step === undefined) continue;
    const last = spans.at(-1);
    if (last?.step === sample.step) continue;
    if (last) last.to = sample.simulatedSeconds;
    spans.push({ step: sample.step, from: sample.simulatedSeconds, to: end });
  }
  return spans;
}

/** The SVG document of one execution, from the progress samples of its run and its summary. */
export function timelineSvg(samples: readonly Progress[], summary: Summary): string {
  const width = 900;
  const plot = { left: 60, right: width - 20, top: 40, bottom: 260 };
  const end = Math.max(1, summary.executionSeconds, ...samples.map((s) => s.simulatedSeconds));
  const xAt = (seconds: number) => plot.left + (seconds / end) * (plot.right - plot.left);
  const series = samples.map((sample) => ({ at: sample.simulatedSeconds, counts: countsOf(sample) }));
  const totalJobs = Math.max(
    1,
    ...series.map((s) => timelineStates.reduce((sum, st) => sum + s.counts[st], 0)),
  );
  const yAt = (jobs: number) => plot.bottom - (jobs / totalJobs) * (plot.bottom - plot.top);

  // Each band is a step function: a sample's counts hold until the next sample.
  const seen = timelineStates.filter((state) => series.some((s) => s.counts[state] > 0));
  const bands: SvgElement[] = [];
  for (const state of seen) {
    const below = timelineStates.slice(0, timelineStates.indexOf(state));
    const lower = series.map((s) => below.reduce((sum, st) => sum + s.counts[st], 0));
    const upper = series.map((s, i) => lower[i] + s.counts[state]);
    const times = [...series.map((s) => s.at), end];
    const edge = (levels: number[]) =>
      levels.flatMap((level, i) => [
        [xAt(times[i]), yAt(level)],
        [xAt(times[i + 1]), yAt(level)],
      ]);
    const outline = [...edge(upper), ...edge(lower).reverse()];
    bands.push(
      el("path", {
        class: "band",
        "data-state": state,
        fill: stateColors[state],
        d: `M${outline.map(([x, y]) => `${round(x)},${round(y)}`).join("L")}Z`,
      }),
    );
  }

  const xAxis = el(
    "g",
    { class: "axis x-axis", "data-scale": "linear", "data-label": "simulated time" },
    ...timeTicks(end).flatMap((t) => [
      el("line", { x1: round(xAt(t)), x2: round(xAt(t)), y1: plot.top, y2: plot.bottom, stroke: "#e5e5e5" }),
      text(xAt(t), plot.bottom + 13, formatDuration(t), { "text-anchor": "middle" }),
    ]),
    text((plot.left + plot.right) / 2, plot.bottom + 27, "simulated time since the execution started", {
      "text-anchor": "middle",
    }),
  );
  const jobTicks = [0, Math.round(totalJobs / 2), totalJobs].filter((v, i, all) => all.indexOf(v) === i);
  const yAxis = el(
    "g",
    { class: "axis y-axis", "data-scale": "linear", "data-label": "jobs" },
    ...jobTicks.map((v) => text(plot.left - 4, yAt(v) + 3.5, String(v), { "text-anchor": "end" })),
    text(14, (plot.top + plot.bottom) / 2, "jobs", {
      "text-anchor": "middle",
      transform: `rotate(-90 14 ${round((plot.top + plot.bottom) / 2)})`,
    }),
  );

  const laneTop = plot.bottom + 40;
  const lanes = stepSpans(samples, Math.min(end, summary.executionSeconds)).map((span, i) => {
    const record = summary.steps.find((s) => s.name === span.step);
    const y = laneTop + i * 22;
    const x = xAt(span.from);
    const label = `${span.step}${record ? ` (${record.type}): ${record.status}` : ""}`;
    return el(
      "g",
      { class: "step", "data-step": span.step },
      el("rect", {
        x: round(x),
        y,
        // A step of a moment still shows.
        width: round(Math.max(3, xAt(span.to) - x)),
        height: 16,
        fill: record?.status === "Failed" ? "#d62728" : record?.status === "Stopped" ? "#ff9896" : "#aec7e8",
      }),
      text(Math.min(x + 6, plot.right - 200), y + 12, label),
    );
  });
  const answerTop = laneTop + lanes.length * 22 + 18;
  const outputs = summary.stepOutputs
    ? Object.entries(summary.stepOutputs)
        .map(([name, value]) => `${name}=${value}`)
        .join(", ")
    : "";
  const answer = `Answer: ${summary.outcome}${summary.failureReason ? `: ${summary.failureReason}` : outputs ? `: ${outputs}` : ""}`;
  const legendTop = answerTop + 22;
  const legend = el(
    "g",
    { class: "legend" },
    ...seen.map((state, i) =>
      el(
        "g",
        { class: "legend-entry", "data-state": state },
        el("rect", {
          x: plot.left + (i % 3) * 260,
          y: legendTop + Math.floor(i / 3) * 16,
          width: 12,
          height: 10,
          fill: stateColors[state],
        }),
        text(plot.left + (i % 3) * 260 + 16, legendTop + Math.floor(i / 3) * 16 + 9, stateLabels[state]),
      ),
    ),
  );
  const height = legendTop + Math.ceil(seen.length / 3) * 16 + 10;
  const title =
    `One local execution: ${summary.shards} shard(s), ${summary.mode} mode, ` +
    `${formatDuration(summary.jobDurationSeconds)} jobs (${summary.stack} config, seed ${summary.seed}); simulated time`;
  return svgDocument(width, height, title, [
    text(width / 2, 20, title, { "text-anchor": "middle", "font-size": 13, "font-weight": "bold" }),
    el("g", { class: "jobs" }, ...bands),
    el("rect", {
      x: plot.left,
      y: plot.top,
      width: plot.right - plot.left,
      height: plot.bottom - plot.top,
      fill: "none",
      stroke: "#999",
    }),
    xAxis,
    yAxis,
    el("g", { class: "steps" }, ...lanes),
    el("text", { class: "answer", x: plot.left, y: answerTop }, answer),
    legend,
  ]);
}
