/**
 * The little XML S3 speaks: responses are built as strings from nested values, request
 * bodies (CompleteMultipartUpload, Delete, CreateBucketConfiguration) are read into a
 * tree of elements. No attributes are needed beyond the namespace, which is ignored.
 */

const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

export function xmlEscape(text: string): string {
  return text
    .replace(/[&<>"'\r]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(
      // Characters XML 1.0 cannot carry even as references are written as S3 does for keys it must list.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what is matched
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g,
      (c) => `&#${c.charCodeAt(0)};`,
    );
}

/** A child element's value: text, a nested element, a list of repeated elements, or absent. */
export type XmlValue = string | number | boolean | Date | XmlNode | XmlValue[] | undefined | null;
export interface XmlNode {
  [tag: string]: XmlValue;
}

function render(tag: string, value: XmlValue, out: string[]): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) render(tag, item, out);
    return;
  }
  out.push(`<${tag}>`);
  if (value instanceof Date) out.push(value.toISOString());
  else if (typeof value === "object") for (const [child, inner] of Object.entries(value)) render(child, inner, out);
  else out.push(xmlEscape(String(value)));
  out.push(`</${tag}>`);
}

/** A complete S3 response document: `<Root xmlns="…">…</Root>`. */
export function xmlDocument(root: string, body: XmlNode): string {
  const out = [`<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${s3Namespace}">`];
  for (const [tag, value] of Object.entries(body)) render(tag, value, out);
  out.push(`</${root}>`);
  return out.join("");
}

/** An element read from a request body. */
export interface XmlElement {
  name: string;
  text: string;
  children: XmlElement[];
}

/** The first child named `name`, or undefined. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

/** Every child named `name`. */
export function children(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith("#x")) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return entities[entity] ?? whole;
  });
}

/**
 * Parses a request body into its root element. Throws `Error` with a short reason on
 * anything that is not well-formed; the caller answers S3's `MalformedXML`.
 */
export function parseXml(text: string): XmlElement {
  const token =
    /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g;
  const root: XmlElement = { name: "", text: "", children: [] };
  const stack: XmlElement[] = [root];
  let consumed = 0;
  for (let match = token.exec(text); match; match = token.exec(text)) {
    if (match.index !== consumed) throw new Error(`unexpected text at ${consumed}`);
    consumed = token.lastIndex;
    const [whole, cdata, closing, rawName, , selfClosing, chars] = match;
    const top = stack.at(-1)!;
    if (whole.startsWith("<?") || whole.startsWith("<!--")) continue;
    if (cdata !== undefined) {
      top.text += cdata;
    } else if (chars !== undefined) {
      top.text += decodeEntities(chars);
    } else if (closing) {
      const name = localName(rawName!);
      if (stack.length === 1 || top.name !== name) throw new Error(`unexpected </${rawName}>`);
      stack.pop();
    } else {
      const element: XmlElement = { name: localName(rawName!), text: "", children: [] };
      top.children.push(element);
      if (!selfClosing) stack.push(element);
    }
  }
  if (consumed !== text.length) throw new Error("unexpected text at the end");
  if (stack.length !== 1) throw new Error(`<${stack.at(-1)!.name}> is not closed`);
  const elements = root.children;
  if (elements.length !== 1 || root.text.trim() !== "") throw new Error("expected one root element");
  return elements[0]!;
}

function localName(name: string): string {
  const colon = name.indexOf(":");
  return colon < 0 ? name : name.slice(colon + 1);
}
