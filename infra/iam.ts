/**
 * Roles: each trusted by one service and holding one inline policy from iam-policies.ts. No managed
 * policies are attached anywhere.
 */
import * as iam from "@pulumi/aws/iam";
import * as pulumi from "@pulumi/pulumi";
import { trustPolicy, type RolePolicy } from "./iam-policies";

export interface ServiceRole {
  role: iam.Role;
  /** Depend on it to be sure the role's permissions are in place. */
  policy: iam.RolePolicy;
}

export interface ServiceRoleArgs {
  /** The service principal that assumes the role, e.g. `lambda.amazonaws.com`. */
  service: string;
  description: string;
  policy: pulumi.Input<RolePolicy>;
}

/** A role for one AWS service with one inline least-privilege policy. */
export function createServiceRole(name: string, args: ServiceRoleArgs, parent: pulumi.Resource): ServiceRole {
  const role = new iam.Role(
    name,
    { description: args.description, assumeRolePolicy: JSON.stringify(trustPolicy(args.service)) },
    { parent },
  );
  const policy = new iam.RolePolicy(
    name,
    { role: role.id, policy: pulumi.output(args.policy).apply((p) => JSON.stringify(p)) },
    { parent },
  );
  return { role, policy };
}
