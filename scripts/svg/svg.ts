/**
 * A small SVG writer: elements as data, written with their attributes and text escaped, so that a chart
 * is built by plain functions and checked by parsing what they wrote.
 */

/** An element: its name, attributes and children (elements or text). */
export interface SvgElement {
  name: string;
  attributes: Record<string, string | number | undefined>;
  children: (SvgElement | string)[];
}

/** `<name attributes>children</name>`; an undefined attribute is left out. */
export function el(
  name: string,
  attributes: SvgElement["attributes"] = {},
  ...children: (SvgElement | string | undefined)[]
): SvgElement {
  return { name, attributes, children: children.filter((c): c is SvgElement | string => c !== undefined) };
}

/** A text label at (x, y). */
export function text(
  x: number,
  y: number,
  content: string,
  attributes: SvgElement["attributes"] = {},
): SvgElement {
  return el("text", { x: round(x), y: round(y), ...attributes }, content);
}

/** Coordinates with at most two decimals: the picture does not need more, and the file stays small. */
export function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function escape(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function write(node: SvgElement | string, indent: string): string {
  if (typeof node === "string") return escape(node);
  const attributes = Object.entries(node.attributes)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}="${escape(String(value))}"`)
    .join("");
  if (node.children.length === 0) return `${indent}<${node.name}${attributes}/>`;
  if (node.children.every((child) => typeof child === "string")) {
    return `${indent}<${node.name}${attributes}>${node.children.map((c) => write(c, "")).join("")}</${node.name}>`;
  }
  const inner = node.children.map((child) =>
    typeof child === "string" ? `${indent}  ${escape(child)}` : write(child, `${indent}  `),
  );
  return `${indent}<${node.name}${attributes}>\n${inner.join("\n")}\n${indent}</${node.name}>`;
}

/** A standalone SVG document of `width` x `height` holding `children`, with a title for screen readers. */
export function svgDocument(width: number, height: number, title: string, children: SvgElement[]): string {
  const root = el(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      "font-family": "sans-serif",
      "font-size": 11,
    },
    el("title", {}, title),
    el("rect", { width, height, fill: "white" }),
    ...children,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>\n${write(root, "")}\n`;
}
