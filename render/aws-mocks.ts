/**
 * The mock engine's answers: IDs, names and ARNs shaped like the ones AWS assigns (account 123456789012,
 * the stack's region, the names the stack gives), so policies and the pipeline definition read as they will
 * in AWS.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

/** The account ID every mocked ARN carries (the example account of the AWS documentation). */
export const mockAccountId = "123456789012";

export type Recorder = (
  args: pulumi.runtime.MockResourceArgs,
  id: string,
  state: Record<string, unknown>,
) => void;

/** Answers resource registrations and provider calls with values shaped like AWS's. */
export class AwsMocks implements pulumi.runtime.Mocks {
  private readonly partition: string;

  constructor(
    private readonly region: string,
    private readonly record: Recorder,
  ) {
    this.partition = region.startsWith("cn-")
      ? "aws-cn"
      : region.startsWith("us-gov-")
        ? "aws-us-gov"
        : "aws";
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    switch (args.token) {
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return {
          id: mockAccountId,
          accountId: mockAccountId,
          arn: `arn:${this.partition}:iam::${mockAccountId}:user/plan`,
          userId: "AIDAEXAMPLEPLANUSER",
        };
      case "aws:index/getRegion:getRegion":
        return {
          id: this.region,
          name: this.region,
          region: this.region,
          endpoint: `ec2.${this.region}.amazonaws.com`,
        };
      case "aws:index/getPartition:getPartition":
        return {
          id: this.partition,
          partition: this.partition,
          dnsSuffix: "amazonaws.com",
          reverseDnsPrefix: "com.amazonaws",
        };
      default:
        throw new Error(`The mock engine does not know the call ${args.token}.`);
    }
  }

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const { id, state } = this.mockedState(args);
    this.record(args, id, state);
    return { id, state };
  }

  private arn(service: string, resource: string, region = this.region, account = mockAccountId): string {
    return `arn:${this.partition}:${service}:${region}:${account}:${resource}`;
  }

  private mockedState(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const inputs = args.inputs as Record<string, unknown>;
    const named = (typeof inputs.name === "string" && inputs.name) || autoName(args.type, args.name);
    const withState = (id: string, computed: Record<string, unknown>) => ({
      id,
      state: { ...inputs, ...computed },
    });
    switch (args.type) {
      case "aws:iam/role:Role":
        return withState(named, {
          name: named,
          arn: `arn:${this.partition}:iam::${mockAccountId}:role/${named}`,
          uniqueId: `AROA${hex(args.name, 17).toUpperCase()}`,
        });
      case "aws:iam/rolePolicy:RolePolicy":
        return withState(`${inputs.role}:${named}`, { name: named });
      case "aws:cloudwatch/logGroup:LogGroup":
        return withState(named, { name: named, arn: this.arn("logs", `log-group:${named}`) });
      case "aws:lambda/function:Function": {
        const arn = this.arn("lambda", `function:${named}`);
        return withState(named, {
          name: named,
          arn,
          qualifiedArn: `${arn}:$LATEST`,
          version: "$LATEST",
          invokeArn: `arn:${this.partition}:apigateway:${this.region}:lambda:path/2015-03-31/functions/${arn}/invocations`,
        });
      }
      case "aws:lambda/permission:Permission":
        return withState(named, { statementId: named });
      case "aws:lambda/eventSourceMapping:EventSourceMapping": {
        const uuid = [8, 4, 4, 4, 12].reduce<string[]>(
          (parts, length) => [...parts, hex(`${args.name}-${parts.length}`, length)],
          [],
        );
        return withState(uuid.join("-"), {
          uuid: uuid.join("-"),
          functionArn: this.arn("lambda", `function:${inputs.functionName}`),
          state: "Enabled",
        });
      }
      case "aws:sqs/queue:Queue": {
        const url = `https://sqs.${this.region}.amazonaws.com/${mockAccountId}/${named}`;
        return withState(url, { name: named, url, arn: this.arn("sqs", named) });
      }
      case "aws:batch/computeEnvironment:ComputeEnvironment": {
        const arn = this.arn("batch", `compute-environment/${named}`);
        return withState(arn, { name: named, arn, ecsClusterArn: this.arn("ecs", `cluster/${named}`) });
      }
      case "aws:batch/jobQueue:JobQueue": {
        const arn = this.arn("batch", `job-queue/${named}`);
        return withState(arn, { name: named, arn });
      }
      case "aws:batch/jobDefinition:JobDefinition": {
        const arnPrefix = this.arn("batch", `job-definition/${named}`);
        return withState(`${arnPrefix}:1`, { name: named, arn: `${arnPrefix}:1`, arnPrefix, revision: 1 });
      }
      case "aws:s3/bucket:Bucket": {
        const bucket = (typeof inputs.bucket === "string" && inputs.bucket) || autoName(args.type, args.name);
        return withState(bucket, {
          bucket,
          arn: `arn:${this.partition}:s3:::${bucket}`,
          bucketDomainName: `${bucket}.s3.amazonaws.com`,
          region: this.region,
        });
      }
      case "aws:ec2/securityGroup:SecurityGroup": {
        const id = `sg-${hex(args.name, 17)}`;
        return withState(id, { name: named, arn: this.arn("ec2", `security-group/${id}`) });
      }
      case "aws:dynamodb/table:Table": {
        const arn = this.arn("dynamodb", `table/${named}`);
        return withState(named, { name: named, arn });
      }
      case "aws:sns/topic:Topic": {
        const arn = this.arn("sns", named);
        return withState(arn, { name: named, arn });
      }
      case "aws:cloudwatch/metricAlarm:MetricAlarm":
        return withState(named, { name: named, arn: this.arn("cloudwatch", `alarm:${named}`) });
      case "aws:cloudwatch/eventRule:EventRule":
        // Rules on the default bus: the ID is the name.
        return withState(named, { name: named, arn: this.arn("events", `rule/${named}`) });
      case "aws:sagemaker/pipeline:Pipeline": {
        const pipelineName = String(inputs.pipelineName);
        // SageMaker lowercases pipeline names in ARNs.
        return withState(pipelineName, {
          arn: this.arn("sagemaker", `pipeline/${pipelineName.toLowerCase()}`),
        });
      }
      case "aws:sagemaker/model:Model":
        // SageMaker lowercases model names in ARNs.
        return withState(named, { name: named, arn: this.arn("sagemaker", `model/${named.toLowerCase()}`) });
      case "aws:apigateway/restApi:RestApi": {
        const id = hex(args.name, 10);
        return withState(id, {
          name: named,
          rootResourceId: hex(`${args.name}-root`, 10),
          executionArn: this.arn("execute-api", id),
        });
      }
      case "aws:apigateway/stage:Stage": {
        const restApi = String(inputs.restApi);
        const stageName = String(inputs.stageName);
        return withState(`ags-${restApi}-${stageName}`, {
          invokeUrl: `https://${restApi}.execute-api.${this.region}.amazonaws.com/${stageName}`,
          executionArn: `${this.arn("execute-api", restApi)}/${stageName}`,
          arn: `arn:${this.partition}:apigateway:${this.region}::/restapis/${restApi}/stages/${stageName}`,
        });
      }
      case "aws:apigateway/apiKey:ApiKey":
        // The key's value is generated by API Gateway and never rendered here.
        return withState(hex(`${args.name}-key`, 10), { name: named });
      case "aws:apigateway/usagePlan:UsagePlan":
        return withState(hex(args.name, 6), { name: named });
      case "awsx:ec2:DefaultVpc":
        return withState(`${args.name}-id`, {
          vpcId: `vpc-${hex("default-vpc", 17)}`,
          publicSubnetIds: ["a", "b", "c"].map((zone) => `subnet-${hex(`default-${zone}`, 17)}`),
          privateSubnetIds: [],
        });
      default:
        return withState(args.custom === false ? "" : `${named}-id`, {});
    }
  }
}

/** Pulumi's auto-naming: the logical name and 7 random hex characters (here derived, so renders agree). */
function autoName(type: string, name: string): string {
  return `${name}-${hex(`${type}::${name}`, 7)}`;
}

function hex(seed: string, length: number): string {
  return createHash("sha256").update(seed).digest("hex").slice(0, length);
}
