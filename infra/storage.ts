/**
 * The data bucket jobs read from and write to: the one the config names, or one the stack creates,
 * encrypted, closed to the public and reachable only over TLS.
 */
import * as iam from "@pulumi/aws/iam";
import * as s3 from "@pulumi/aws/s3";
import * as pulumi from "@pulumi/pulumi";
import type { BridgeConfig } from "./config";

export interface DataBucket {
  bucketName: pulumi.Output<string>;
}

/** The data bucket: `config.dataBucketName` when set, else a new bucket. */
export function createDataBucket(name: string, config: BridgeConfig, parent: pulumi.Resource): DataBucket {
  if (config.dataBucketName !== "") return { bucketName: pulumi.output(config.dataBucketName) };

  const opts = { parent };
  // Not forceDestroy: `pulumi destroy` must not delete job outputs; it fails while the bucket holds objects.
  const bucket = new s3.Bucket(`${name}-data`, {}, opts);
  new s3.BucketServerSideEncryptionConfiguration(
    `${name}-data`,
    {
      bucket: bucket.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
    },
    opts,
  );
  const publicAccessBlock = new s3.BucketPublicAccessBlock(
    `${name}-data`,
    {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    opts,
  );
  new s3.BucketPolicy(
    `${name}-data`,
    {
      bucket: bucket.id,
      policy: bucket.arn.apply((arn) => JSON.stringify(tlsOnlyBucketPolicy(arn))),
    },
    // S3 rejects a bucket policy written while the public access block is still being applied.
    { parent, dependsOn: [publicAccessBlock] },
  );
  return { bucketName: bucket.bucket };
}

/** Denies every request that does not come over TLS. */
export function tlsOnlyBucketPolicy(bucketArn: string): iam.PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}
