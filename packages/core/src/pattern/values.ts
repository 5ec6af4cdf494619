import type { Leaf } from "./leaf.ts";

/**
 * Reading an event: fields of objects, and the leaves (strings, numbers, booleans, null) a field
 * holds directly or in arrays, which patterns treat alike.
 */

/**
 * An own field of an object; anything else (arrays, primitives, inherited keys) has no fields.
 * Inherited members of plain objects are functions, which are no JSON value, so a function counts
 * as absent; only `__proto__` needs the (slower) own-property check.
 */
export function fieldValue(value: unknown, key: string): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  const field = (value as Record<string, unknown>)[key];
  if (typeof field === "function") return undefined;
  return key === "__proto__" && !Object.hasOwn(value, key) ? undefined : field;
}

/** Whether `value` holds a leaf: a string, number, boolean or null, or an array with one somewhere. */
export function hasLeaf(value: unknown): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return true;
    case "object":
      return Array.isArray(value) && value.some(hasLeaf);
    default:
      return false;
  }
}

/** Whether some leaf of `value` (itself, or any element of nested arrays) is accepted. */
export function anyLeaf(value: unknown, accepts: (leaf: Leaf) => boolean): boolean {
  if (value === null) return accepts(null);
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return accepts(value);
    case "object":
      if (!Array.isArray(value)) return false;
      for (const element of value) if (anyLeaf(element, accepts)) return true;
      return false;
    default:
      return false;
  }
}
