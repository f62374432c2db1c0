/**
 * The Batch Transform engine's settings, checked against what SageMaker accepts (CreateTransformJob and
 * CreateModel API references, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html
 * and .../API_CreateModel.html), so that a value SageMaker would refuse when a step runs fails at preview.
 */
import type { BridgeSettings, ConfigKey } from "./keys";

type Report = (key: ConfigKey, message: string) => void;

/** ModelName: at most 63 characters, `^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$` (CreateModel). */
export const modelNamePattern = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
export const modelNameMaxLength = 63;
/** MaxPayloadInMB: 0 to 100; MaxConcurrentTransforms x MaxPayloadInMB may not exceed 100 (CreateTransformJob). */
export const maxPayloadMiB = 100;
/**
 * TransformResources.InstanceType: one of SageMaker's `ml.<family>.<size>` types for Batch Transform (the
 * TransformInstanceType enumeration: ml.m5.xlarge, ml.c5.2xlarge, ml.g4dn.xlarge, ...); its exact list
 * changes as families are added, so the shape is checked here and SageMaker checks the type itself.
 */
export const transformInstanceTypePattern = /^ml\.[a-z][a-z0-9-]*\.(medium|large|[0-9]*xlarge)$/;
/** ModelDataUrl: `^(https|s3)://([^/]+)/?(.*)$`, at most 1024 characters; the stack reads it from S3. */
const modelDataUrlPattern = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(\S+[^/])$/;

/** The model data object's bucket and key, or undefined when the URL is not `s3://bucket/key`. */
export function modelDataLocation(url: string): { bucket: string; key: string } | undefined {
  const match = modelDataUrlPattern.exec(url);
  return match && url.length <= 1024 ? { bucket: match[1], key: match[2] } : undefined;
}

/** Checks the transform keys; the model is needed only when some step runs the transform engine. */
export function checkTransform(c: BridgeSettings, report: Report, modelNeeded: boolean): void {
  if (!transformInstanceTypePattern.test(c.transformInstanceType)) {
    report(
      "transformInstanceType",
      `must be an instance type SageMaker offers for Batch Transform, ml.<family>.<size> ` +
        `(e.g. ml.m5.xlarge, ml.c5.2xlarge, ml.g4dn.xlarge), got "${c.transformInstanceType}".`,
    );
  }
  atLeast(report, "transformInstanceCount", c.transformInstanceCount, 1);
  atLeast(report, "transformMaxConcurrentTransforms", c.transformMaxConcurrentTransforms, 1);
  const payload = c.transformMaxPayloadMiB;
  if (!Number.isInteger(payload) || payload < 0 || payload > maxPayloadMiB) {
    report("transformMaxPayloadMiB", `must be a whole number from 0 to ${maxPayloadMiB}, got ${payload}.`);
  } else if (c.transformMaxConcurrentTransforms * payload > maxPayloadMiB) {
    report(
      "transformMaxPayloadMiB",
      `times transformMaxConcurrentTransforms (${c.transformMaxConcurrentTransforms}) must be at most ` +
        `${maxPayloadMiB} MiB (SageMaker's limit for one instance), got ${payload}.`,
    );
  }
  checkModel(c, report, modelNeeded);
}

/** An existing model by name, or an image and model data the stack makes a model of: one or the other. */
function checkModel(c: BridgeSettings, report: Report, modelNeeded: boolean): void {
  const name = c.transformModelName;
  if (name !== "" && (!modelNamePattern.test(name) || name.length > modelNameMaxLength)) {
    report(
      "transformModelName",
      `must be a SageMaker model name: 1-${modelNameMaxLength} letters, digits and hyphens, starting and ` +
        `ending with a letter or digit, got "${name}".`,
    );
  }
  const created = c.transformImage !== "" || c.transformModelDataUrl !== "";
  if (name !== "" && created) {
    report(
      "transformModelName",
      `names an existing model: leave transformImage and transformModelDataUrl unset with it, or unset ` +
        `transformModelName to have the stack create the model.`,
    );
    return;
  }
  if (c.transformModelDataUrl !== "" && !modelDataLocation(c.transformModelDataUrl)) {
    report(
      "transformModelDataUrl",
      `must be the S3 URL of the model's artifacts, s3://bucket/key (e.g. s3://my-models/model.tar.gz), ` +
        `got "${c.transformModelDataUrl}".`,
    );
  }
  if (c.transformImage !== "" && (/\s/.test(c.transformImage) || c.transformImage.length > 255)) {
    report("transformImage", `must be an image URI of at most 255 characters without spaces.`);
  }
  if (!modelNeeded || name !== "") return;
  if (c.transformImage === "") {
    report(
      "transformImage",
      `must name the model's inference image when a step runs the transform engine and ` +
        `transformModelName is unset (or set transformModelName to an existing model).`,
    );
  }
  if (c.transformModelDataUrl === "") {
    report(
      "transformModelDataUrl",
      `must give the model's artifacts (s3://bucket/key) when a step runs the transform engine and ` +
        `transformModelName is unset (or set transformModelName to an existing model).`,
    );
  }
}

function atLeast(report: Report, key: ConfigKey, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    report(key, `must be a whole number of at least ${min}, got ${value}.`);
  }
}
