/**
 * The REST APIs of a rendered stack as local API Gateway serves them: each API's OpenAPI document (its
 * `body`), the stage deployed from it, and the usage plan of that stage.
 */
import type { RestApiDeclaration, UsagePlanSettings } from "../apigateway/requests";
import { resourcesOfType, type RenderedStack } from "../../render/rendered-stack";

/** Every REST API of the stack that has a stage. */
export function restApiDeclarations(rendered: RenderedStack): RestApiDeclaration[] {
  const stages = resourcesOfType(rendered, "aws:apigateway/stage:Stage");
  const plans = resourcesOfType(rendered, "aws:apigateway/usagePlan:UsagePlan");
  return resourcesOfType(rendered, "aws:apigateway/restApi:RestApi").flatMap((api) => {
    const stage = stages.find((s) => s.inputs.restApi === api.id);
    if (!stage || typeof api.inputs.body !== "string") return [];
    const stageName = String(stage.inputs.stageName);
    const plan = plans.find((p) =>
      ((p.inputs.apiStages ?? []) as { apiId?: string; stage?: string }[]).some(
        (s) => s.apiId === api.id && s.stage === stageName,
      ),
    );
    const throttle = plan?.inputs.throttleSettings as { rateLimit?: number; burstLimit?: number } | undefined;
    const quota = plan?.inputs.quotaSettings as UsagePlanSettings["quota"] | undefined;
    return [
      {
        name: String(api.inputs.name ?? api.name),
        stageName,
        document: JSON.parse(api.inputs.body) as RestApiDeclaration["document"],
        usagePlan: { rateLimit: throttle?.rateLimit, burstLimit: throttle?.burstLimit, quota },
      },
    ];
  });
}
