/**
 * EventBridge event patterns, the part of their language a rule on Batch job state changes uses: exact
 * values, lists of them (any one matches), nested fields, `prefix`, `exists` and `$or`. A pattern using
 * anything else is refused when it is compiled, naming the operator, rather than matched wrongly.
 *
 * Semantics (EventBridge user guide, "Event patterns"): every field the pattern names must match; a leaf
 * is a list of allowed values and matches when any entry matches; when the event's field holds a list, the
 * leaf matches when any element matches; `{"exists": false}` matches a missing field; `$or` holds patterns
 * of which at least one must match.
 */

/** A compiled pattern: call it with an event. */
export type EventMatcher = (event: unknown) => boolean;

type Leaf = (present: boolean, value: unknown) => boolean;
type Node = (value: unknown) => boolean;

/** Compiles a pattern (object or JSON text); throws an error naming what local mode does not support. */
export function compileEventPattern(pattern: unknown): EventMatcher {
  const parsed = typeof pattern === "string" ? parsePatternText(pattern) : pattern;
  const node = compileObject(parsed, "pattern");
  return (event) => node(event);
}

/** True when `event` matches `pattern` (compiled on every call: compile once for many events). */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  return compileEventPattern(pattern)(event);
}

function parsePatternText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`event pattern is not valid JSON: ${(error as Error).message}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function compileObject(pattern: unknown, path: string): Node {
  if (!isObject(pattern) || Object.keys(pattern).length === 0) {
    throw new Error(`${path} must be a non-empty object of fields, got ${JSON.stringify(pattern)}`);
  }
  const checks: Node[] = [];
  for (const [key, sub] of Object.entries(pattern)) {
    const where = `${path}.${key}`;
    if (key === "$or") {
      if (!Array.isArray(sub) || sub.length < 2) {
        throw new Error(`${where} must list at least two patterns, got ${JSON.stringify(sub)}`);
      }
      const alternatives = sub.map((alternative, i) => compileObject(alternative, `${where}[${i}]`));
      checks.push((value) => alternatives.some((alternative) => alternative(value)));
    } else if (Array.isArray(sub)) {
      const leaf = compileLeaf(sub, where);
      checks.push((value) => {
        // A field set to undefined is not in the event's JSON.
        const field = isObject(value) ? value[key] : undefined;
        return leaf(field !== undefined, field);
      });
    } else if (isObject(sub)) {
      const nested = compileObject(sub, where);
      // A missing object matches as an empty one, so that `exists: false` below it holds.
      checks.push((value) => {
        const field = isObject(value) ? value[key] : undefined;
        return nested(isObject(field) ? field : {});
      });
    } else {
      throw new Error(`${where} must be a list of values or a nested pattern, got ${JSON.stringify(sub)}`);
    }
  }
  return (value) => checks.every((check) => check(value));
}

function compileLeaf(entries: unknown[], path: string): Leaf {
  if (entries.length === 0) throw new Error(`${path} must list at least one value`);
  const tests = entries.map((entry, i): Leaf => {
    if (entry === null || ["string", "number", "boolean"].includes(typeof entry)) {
      return (present, value) => present && anyElement(value, (v) => v === entry);
    }
    if (!isObject(entry) || Object.keys(entry).length !== 1) {
      throw new Error(`${path}[${i}] must be a value or a one-key matcher, got ${JSON.stringify(entry)}`);
    }
    const [operator, operand] = Object.entries(entry)[0];
    switch (operator) {
      case "prefix":
        if (typeof operand !== "string") {
          throw new Error(`${path}[${i}].prefix must be a string, got ${JSON.stringify(operand)}`);
        }
        return (present, value) =>
          present && anyElement(value, (v) => typeof v === "string" && v.startsWith(operand));
      case "exists":
        if (typeof operand !== "boolean") {
          throw new Error(`${path}[${i}].exists must be true or false, got ${JSON.stringify(operand)}`);
        }
        // EventBridge's `exists` applies to leaves: a nested object does not count as a present value.
        return (present, value) => (present && !isObject(value)) === operand;
      default:
        throw new Error(
          `${path}[${i}] uses "${operator}", which local mode does not match; supported: exact values, ` +
            `lists, prefix, exists, $or`,
        );
    }
  });
  return (present, value) => tests.some((test) => test(present, value));
}

function anyElement(value: unknown, test: (element: unknown) => boolean): boolean {
  return Array.isArray(value) ? value.some(test) : test(value);
}
