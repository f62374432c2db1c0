/**
 * The account's job queues and job definitions, as a scenario registers them, and the ARNs Batch names
 * jobs, queues and definitions by. A name and its ARN are the same queue or definition.
 */
import type { BatchScenario, JobDefinitionSettings } from "./scenario";

export class BatchResources {
  private readonly definitions = new Map<string, JobDefinitionSettings>();
  private readonly queues: Set<string> | undefined;

  constructor(
    private readonly identity: { region: string; accountId: string },
    scenario: Pick<BatchScenario, "jobDefinitions" | "jobQueues">,
  ) {
    for (const [name, settings] of Object.entries(scenario.jobDefinitions ?? {})) {
      this.definitions.set(definitionName(name), settings);
    }
    this.queues = scenario.jobQueues && new Set(scenario.jobQueues.map((queue) => this.queueArn(queue)));
  }

  /** False only when the scenario lists the queues and this one is not among them. */
  queueExists(queueArn: string): boolean {
    return !this.queues || this.queues.has(queueArn);
  }

  /** True when the scenario registers definitions (and SubmitJob may name only those). */
  get definitionsRegistered(): boolean {
    return this.definitions.size > 0;
  }

  /** A registered definition's settings, by name or ARN. */
  registeredDefinition(definition: string): JobDefinitionSettings | undefined {
    return this.definitions.get(definitionName(definition));
  }

  arn(kind: string, name: string): string {
    return `arn:aws:batch:${this.identity.region}:${this.identity.accountId}:${kind}/${name}`;
  }

  queueArn(queue: string): string {
    return queue.startsWith("arn:") ? queue : this.arn("job-queue", queue);
  }

  definitionArn(definition: string): string {
    if (definition.startsWith("arn:")) return definition;
    return this.arn("job-definition", definition.includes(":") ? definition : `${definition}:1`);
  }
}

/** `name`, `name:3` or `arn:...:job-definition/name:3` -> `name`. */
export function definitionName(definition: string): string {
  const afterSlash = definition.slice(definition.lastIndexOf("/") + 1);
  return afterSlash.replace(/:\d+$/, "");
}
