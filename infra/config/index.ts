/**
 * The stack's configuration: every key a user can set with `pulumi config set` (keys.ts), the AWS limits
 * they are held to (service-limits.ts), the checks that reject a bad value before anything is created, each
 * naming its key and what is allowed (parse.ts), and how the program reads them (read.ts).
 */
export * from "./keys";
export * from "./parse";
export * from "./read";
export * from "./service-limits";
