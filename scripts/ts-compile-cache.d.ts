/** The types of ts-compile-cache.js, a CommonJS script of its own (ts-register.js loads it before any .ts). */

/** The JavaScript of `code`, the text of the TypeScript file `fileName`. */
export function compile(code: string, fileName: string): string;

/** The TypeScript files the type check reads (absolute paths), as tsconfig.json's `include` lists them. */
export function typeCheckedFiles(): string[];

/** Compiles the project's files not kept yet with TypeScript 7's compiler at `tsc`; returns how many. */
export function compileProject(tsc: string): number;

/** The JavaScript of `files` as TypeScript 7's compiler at `tsc` emits it, by file, with its TypeScript. */
export function compiledByTsc(
  tsc: string,
  files: string[],
): Map<string, { code: string; javaScript: string }>;
