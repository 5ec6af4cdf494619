import { z } from "zod";
import { functionSettings as settings } from "../limits.ts";
import { duration, integer, props, size } from "../spec/fields.ts";

/** The function defaults, each as `functionSettings` in limits.ts holds it. */
export const functionDefaults = {
  timeout: settings.timeout.default,
  concurrency: settings.concurrency.default,
  memory: settings.memory.default,
  maxBodySize: settings.maxBodySize.default,
  cpu: settings.cpu.default,
  scale: settings.scale.default,
  isolation: "standard",
} as const;

/**
 * How a deployed function's containers are isolated: `standard` is the container
 * runtime's default, `gvisor` runs them under gVisor's `runsc` (the Docker host must have
 * it installed). The emulator runs every function the same way whatever it says.
 */
export const isolations = ["standard", "gvisor"] as const;
export type Isolation = (typeof isolations)[number];

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
  /** CPUs of each container, e.g. 0.5. */
  cpu: z.number(),
  /** Replicas of the function's container. */
  scale: z.number().int(),
  isolation: z.enum(isolations),
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
  timeout: duration(settings.timeout),
  concurrency: integer(settings.concurrency),
  memory: size(settings.memory),
  maxBodySize: size(settings.maxBodySize),
  cpu: z
    .unknown()
    .optional()
    .transform((value, ctx): number => {
      const n = value === undefined ? settings.cpu.default : value;
      if (typeof n !== "number" || !Number.isFinite(n) || n < settings.cpu.min || n > settings.cpu.max) {
        ctx.addIssue({
          code: "custom",
          message: `expected a number of CPUs from ${settings.cpu.min} to ${settings.cpu.max}, e.g. 0.5 or 2; found ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      return n;
    }),
  scale: integer(settings.scale),
  isolation: z
    .enum(isolations, { error: `expected one of ${isolations.map((i) => `"${i}"`).join(", ")}, e.g. "gvisor"` })
    .optional()
    .transform((value) => value ?? "standard"),
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
