/** An SVG file read back as a tree, checked to be well-formed XML first, for tests to query. */
import { XMLParser, XMLValidator } from "fast-xml-parser";

export interface XmlNode {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
  /** The text directly inside the element. */
  text: string;
}

type Ordered = Record<string, unknown> & { ":@"?: Record<string, string> };

function toNode(entry: Ordered): XmlNode | undefined {
  const name = Object.keys(entry).find((key) => key !== ":@");
  if (name === undefined || name === "#text" || name.startsWith("?")) return undefined;
  const inner = entry[name] as Ordered[];
  return {
    name,
    attributes: entry[":@"] ?? {},
    children: inner.map(toNode).filter((n): n is XmlNode => n !== undefined),
    text: inner
      .filter((child) => "#text" in child)
      .map((child) => String(child["#text"]))
      .join(""),
  };
}

/** The document's root element; throws with the parser's message when the text is not well-formed XML. */
export function parseSvg(text: string): XmlNode {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new Error(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const parsed = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    preserveOrder: true,
    parseAttributeValue: false,
    parseTagValue: false,
    trimValues: false,
  }).parse(text) as Ordered[];
  const root = parsed.map(toNode).find((n) => n?.name === "svg");
  if (!root) throw new Error("no <svg> root element");
  return root;
}

/** Every element under `node` (itself included) that `match` accepts, in document order. */
export function findAll(node: XmlNode, match: (n: XmlNode) => boolean): XmlNode[] {
  return [...(match(node) ? [node] : []), ...node.children.flatMap((child) => findAll(child, match))];
}

/** Elements by name and, when given, class. */
export function byClass(node: XmlNode, className: string): XmlNode[] {
  return findAll(node, (n) => (n.attributes.class ?? "").split(" ").includes(className));
}
