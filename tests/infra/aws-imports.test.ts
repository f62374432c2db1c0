import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import { typeCheckedFiles } from "../../scripts/ts-compile-cache";

const repositoryRoot = path.resolve(__dirname, "../..");

/** The files the type check reads, by path from the repository. */
function typeCheckedPaths(): string[] {
  return typeCheckedFiles().map((file) => path.relative(repositoryRoot, file).split(path.sep).join("/"));
}

/** An import, export, require() or import() of the package's index itself, "@pulumi/aws" with no service. */
const wholeIndexImport = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'`]@pulumi\/aws["'`]/;

describe("@pulumi/aws imports", () => {
  it(
    'import each AWS service on its own ("@pulumi/aws/lambda"), never the whole "@pulumi/aws" index: ' +
      "the index's types make the type check read about 4,900 files instead of 2,700",
    () => {
      const files = typeCheckedPaths();
      expect(files).to.include("infra/record-api.ts");
      const importing = files.filter((file) =>
        wholeIndexImport.test(fs.readFileSync(path.join(repositoryRoot, file), "utf8")),
      );
      expect(importing).to.deep.equal([]);
    },
  );

  it("tells an import of the whole index from an import of one service", () => {
    // Built from parts, so that this file does not hold the imports it describes.
    const index = ["@pulumi", "aws"].join("/");
    for (const line of [
      `import * as aws from "${index}";`,
      `import type * as aws from '${index}';`,
      `import { lambda } from "${index}";`,
      `export { iam } from "${index}";`,
      `const aws = require("${index}");`,
      `const aws = await import("${index}");`,
      `import "${index}";`,
    ]) {
      expect(wholeIndexImport.test(line), line).to.equal(true);
    }
    for (const line of [
      `import * as lambda from "${index}/lambda";`,
      `import { getRegionOutput } from "${index}/getRegion";`,
      `import * as awsx from "${index}x";`,
    ]) {
      expect(wholeIndexImport.test(line), line).to.equal(false);
    }
  });
});
