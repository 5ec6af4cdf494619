import { z } from "zod";
import { duration, integer, props, size } from "../spec/fields.ts";

export const functionDefaults = {
  timeout: "10s",
  concurrency: 10,
  memory: "256MiB",
  maxBodySize: "6MiB",
} as const;

export const httpMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY"] as const;
export type HttpMethod = (typeof httpMethods)[number];

export const routeSpecSchema = z.strictObject({ method: z.enum(httpMethods), path: z.string() });
export type RouteSpec = z.infer<typeof routeSpecSchema>;

export const linkSpecSchema = z.strictObject({
  /** The property of `env` that holds the binding. */
  name: z.string(),
  kind: z.enum(["bucket", "bus", "function", "queue"]),
  resource: z.string(),
});
export type LinkSpec = z.infer<typeof linkSpecSchema>;

export const configValueSchema = z.union([z.string(), z.number(), z.boolean()]);

export const functionSpecSchema = z.strictObject({
  /** Path of the handler module, relative to the folder holding `nimbus.app.ts`, with `/` separators. */
  handler: z.string(),
  routes: z.array(routeSpecSchema),
  links: z.array(linkSpecSchema),
  timeout: z.number(),
  concurrency: z.number().int(),
  memory: z.number().int(),
  maxBodySize: z.number().int(),
  config: z.record(z.string(), configValueSchema),
  secrets: z.array(z.string()),
});
export type FunctionSpec = z.infer<typeof functionSpecSchema>;

const envName = /^[A-Za-z_$][\w$]*$/;

export const functionPropsSchema = props({
  handler: z.string({ error: 'expected the handler module\'s path, relative to nimbus.app.ts, e.g. "./src/api.ts"' }),
  routes: z
    .array(z.string())
    .optional()
    .transform((value) => value ?? []),
  // Checked by the construct: it holds construct objects.
  link: z.unknown().optional(),
  timeout: duration({ default: functionDefaults.timeout, min: "1s", max: "15m" }),
  concurrency: integer({ default: functionDefaults.concurrency, min: 1, max: 1000 }),
  memory: size({ default: functionDefaults.memory, min: "64MiB", max: "10GiB" }),
  maxBodySize: size({ default: functionDefaults.maxBodySize, min: "1KiB", max: "1GiB" }),
  config: z
    .record(
      z.string().regex(envName, { error: "expected a config key that is a JavaScript identifier, e.g. apiBase" }),
      configValueSchema,
    )
    .optional()
    .transform((value) => value ?? {}),
  secrets: z
    .array(
      z.string().regex(envName, { error: "expected a secret name that is a JavaScript identifier, e.g. STRIPE_KEY" }),
    )
    .optional()
    .transform((value) => [...new Set(value ?? [])].sort()),
});
