/**
 * The model local transform jobs run by default: deterministic, it answers each record with its text's
 * counts (the same result the local Batch job writes), and fails, as a model answering an error does, on
 * a record that carries `{"fail": "<why>"}`: the way a run injects a failing transform.
 */
import type { TransformModel } from "../sagemaker/transform-jobs";
import { recordResult } from "./record-worker";

export const builtInTransformModel: TransformModel = async (inputs) =>
  inputs.map((record) => {
    const fail = (record as { fail?: unknown } | null)?.fail;
    if (typeof fail === "string") throw new Error(`the model answered 500 for a record: ${fail}`);
    return recordResult(record);
  });
