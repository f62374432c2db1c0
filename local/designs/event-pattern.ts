/**
 * EventBridge event patterns, for rules on any service's events (Batch's job state changes, SageMaker's
 * pipeline execution status changes): exact values, lists of them (any one matches), nested fields, `$or`,
 * and the comparison operators `prefix`, `suffix`, `equals-ignore-case`, `wildcard`, `anything-but`,
 * `numeric` and `exists`. A pattern using anything else (`cidr`, a nested `prefix` operator) is refused
 * when it is compiled, naming the operator, rather than matched wrongly.
 *
 * Semantics (EventBridge user guide, "Creating event patterns" and "Comparison operators"): every field the
 * pattern names must match; a leaf is a list of allowed values and matches when any entry matches; when the
 * event's field holds a list, the leaf matches when any element matches; matching is case-sensitive except
 * for `equals-ignore-case`; every operator but `{"exists": false}` needs the field to be present.
 * `anything-but` takes a value, a list of values, or one `prefix`, `suffix`, `equals-ignore-case` or
 * `wildcard` matcher; `numeric` takes one or two comparisons (`["<", 5]`, `[">=", 0, "<", 10]`, `["=", 3]`)
 * and matches numbers only; `wildcard` matches `*` against any run of characters (a backslash before a
 * `*` makes it a literal star).
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
    const where = `${path}[${i}]`;
    if (isScalar(entry)) return (present, value) => present && anyElement(value, (v) => v === entry);
    const [operator, operand] = oneKey(entry, where);
    if (operator === "exists") {
      if (typeof operand !== "boolean") {
        throw new Error(`${where}.exists must be true or false, got ${JSON.stringify(operand)}`);
      }
      // EventBridge's `exists` applies to leaves: a nested object does not count as a present value.
      return (present, value) => (present && !isObject(value)) === operand;
    }
    const test = compileOperator(operator, operand, where);
    return (present, value) => present && anyElement(value, test);
  });
  return (present, value) => tests.some((test) => test(present, value));
}

/** Exact values a leaf may list. */
function isScalar(entry: unknown): entry is string | number | boolean | null {
  return entry === null || ["string", "number", "boolean"].includes(typeof entry);
}

/** A matcher object's one operator and its operand. */
function oneKey(entry: unknown, where: string): [string, unknown] {
  if (!isObject(entry) || Object.keys(entry).length !== 1) {
    throw new Error(`${where} must be a value or a one-key matcher, got ${JSON.stringify(entry)}`);
  }
  return Object.entries(entry)[0];
}

const supportedOperators =
  "exact values, lists, prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, $or";

/** A test of one value (an element, when the event's field is a list) for an operator. */
function compileOperator(operator: string, operand: unknown, where: string): (value: unknown) => boolean {
  const text = (): string => {
    if (typeof operand !== "string") {
      throw new Error(`${where}.${operator} must be a string, got ${JSON.stringify(operand)}`);
    }
    return operand;
  };
  switch (operator) {
    case "prefix": {
      const prefix = text();
      return (v) => typeof v === "string" && v.startsWith(prefix);
    }
    case "suffix": {
      const suffix = text();
      return (v) => typeof v === "string" && v.endsWith(suffix);
    }
    case "equals-ignore-case": {
      const wanted = text().toLowerCase();
      return (v) => typeof v === "string" && v.toLowerCase() === wanted;
    }
    case "wildcard": {
      const pattern = wildcardPattern(text());
      return (v) => typeof v === "string" && pattern.test(v);
    }
    case "numeric":
      return numericTest(operand, `${where}.numeric`);
    case "anything-but":
      return anythingBut(operand, `${where}.anything-but`);
    default:
      throw new Error(
        `${where} uses "${operator}", which local mode does not match; supported: ${supportedOperators}`,
      );
  }
}

/** `anything-but`: a value, a list of values, or one string matcher; true when the value is none of them. */
function anythingBut(operand: unknown, where: string): (value: unknown) => boolean {
  if (isScalar(operand)) return (v) => v !== operand;
  if (Array.isArray(operand)) {
    if (operand.length === 0 || !operand.every(isScalar)) {
      throw new Error(`${where} must list at least one value, got ${JSON.stringify(operand)}`);
    }
    const values: unknown[] = operand;
    return (v) => !values.includes(v);
  }
  const [operator, inner] = oneKey(operand, where);
  if (!["prefix", "suffix", "equals-ignore-case", "wildcard"].includes(operator)) {
    throw new Error(
      `${where} uses "${operator}", which local mode does not match inside anything-but; supported: ` +
        `values, prefix, suffix, equals-ignore-case, wildcard`,
    );
  }
  const matches = compileOperator(operator, inner, where);
  // Only strings are compared by the string matchers: anything else is "anything but" them.
  return (v) => !matches(v);
}

/** `numeric`: one or two comparisons, each an operator and a number. */
function numericTest(operand: unknown, where: string): (value: unknown) => boolean {
  const comparisons: Record<string, (a: number, b: number) => boolean> = {
    "=": (a, b) => a === b,
    "<": (a, b) => a < b,
    "<=": (a, b) => a <= b,
    ">": (a, b) => a > b,
    ">=": (a, b) => a >= b,
  };
  if (!Array.isArray(operand) || ![2, 4].includes(operand.length)) {
    throw new Error(`${where} must be [operator, number] or two of them, got ${JSON.stringify(operand)}`);
  }
  const checks: ((v: number) => boolean)[] = [];
  for (let i = 0; i < operand.length; i += 2) {
    const [op, bound] = [operand[i], operand[i + 1]];
    const compare = typeof op === "string" ? comparisons[op] : undefined;
    if (!compare || typeof bound !== "number" || !Number.isFinite(bound)) {
      throw new Error(
        `${where}: ${JSON.stringify([op, bound])} is not a comparison (=, <, <=, >, >= and a number)`,
      );
    }
    checks.push((v) => compare(v, bound));
  }
  return (v) => typeof v === "number" && checks.every((check) => check(v));
}

/** A `wildcard` operand as a regular expression: `*` any run of characters, backslash-star a star. */
function wildcardPattern(wildcard: string): RegExp {
  let source = "";
  for (let i = 0; i < wildcard.length; i += 1) {
    const char = wildcard[i];
    if (char === "\\" && wildcard[i + 1] === "*") {
      source += "\\*";
      i += 1;
    } else if (char === "*") {
      source += "[\\s\\S]*";
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

function anyElement(value: unknown, test: (element: unknown) => boolean): boolean {
  return Array.isArray(value) ? value.some(test) : test(value);
}
