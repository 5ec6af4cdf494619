import { z } from "zod";
import { resourceKinds } from "../graph/shape.ts";

export {
  describeResource,
  type ResourceKind,
  type ResourceRef,
  resourceId,
  resourceKinds,
} from "../graph/shape.ts";

/** A pointer from one resource's spec to another resource of the same app. */
export const resourceRefSchema = z.strictObject({
  kind: z.enum(resourceKinds),
  name: z.string(),
});
