import Ajv from "ajv";
import * as fs from "fs";
import * as path from "path";

/** AWS's pipeline-definition schema, kept in the repository (see schemas/SOURCE.md). */
export const pipelineSchemaPath = path.join(
  __dirname,
  "..",
  "..",
  "schemas",
  "sagemaker-pipeline-definition.schema.json",
);

/** The official schema, unchanged. */
export function officialPipelineSchema(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(pipelineSchemaPath, "utf8"));
}

/**
 * The schema with the two points where the service is known to be more lenient relaxed:
 * a top-level PipelineExperimentConfig, and SqsQueueUrl given as a Get reference.
 */
export function relaxedPipelineSchema(): Record<string, unknown> {
  const schema = officialPipelineSchema() as {
    properties: Record<string, unknown>;
    definitions: { CallbackStep: { properties: Record<string, unknown> } };
  };
  schema.properties.PipelineExperimentConfig = { type: "object" };
  schema.definitions.CallbackStep.properties.SqsQueueUrl = {
    oneOf: [{ type: "string" }, { $ref: "#/definitions/GetFunction" }],
  };
  return schema;
}

/** A validator for one schema, reporting every error. */
export function compileSchema(schema: Record<string, unknown>) {
  return new Ajv({ strict: false, allErrors: true }).compile(schema);
}
