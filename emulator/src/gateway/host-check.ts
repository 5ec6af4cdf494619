import { isIP } from "node:net";

/**
 * Which `Host` names the emulator answers, as Vite's `server.allowedHosts`: a page in the
 * developer's browser can reach a server on loopback under a name its attacker controls
 * (DNS rebinding), so only names that cannot be rebound, and those the user names, are
 * served. `true` answers any name.
 */
export type AllowedHosts = readonly string[] | true;

/**
 * Checks a request's `Host` header: undefined when the emulator serves that name, else
 * the message to refuse it with. Served: `localhost` and `*.localhost` (browsers resolve
 * them to loopback themselves), any IP address (an address cannot be rebound), the
 * address the emulator binds, and each allowed name, where `.example.com` means
 * `example.com` and every name under it.
 */
export function hostCheck(
  bindHost: string,
  allowed: AllowedHosts | undefined,
): (host: string | null | undefined) => string | undefined {
  if (allowed === true) return () => undefined;
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of [bindHost, ...(allowed ?? [])]) {
    const name = normalize(entry);
    if (name === "") continue;
    if (name.startsWith(".")) {
      exact.add(name.slice(1));
      suffixes.push(name);
    } else exact.add(name);
  }
  const isServed = (name: string) =>
    name === "localhost" ||
    name.endsWith(".localhost") ||
    isIP(name.replace(/^\[(.*)\]$/, "$1")) !== 0 ||
    exact.has(name) ||
    suffixes.some((suffix) => name.endsWith(suffix));
  // A client sends the same few Host values again and again: each is parsed once.
  const seen = new Map<string, string | undefined>();
  return (header) => {
    // Only a client that is not a browser leaves Host out (HTTP/1.0); a browser always sends it.
    if (header === undefined || header === null) return undefined;
    if (seen.has(header)) return seen.get(header);
    const verdict = check(header);
    if (seen.size >= 256) seen.clear();
    seen.set(header, verdict);
    return verdict;
  };

  function check(header: string): string | undefined {
    const name = hostnameOf(header);
    if (name !== undefined && isServed(name)) return undefined;
    const shown = name ?? header;
    return `Blocked a request for host "${shown}": the emulator answers only requests to localhost, IP addresses and the names it is told to, so that web pages cannot reach it under a name of their own (DNS rebinding). If you reach it as "${shown}" on purpose, start it with \`nimbus dev --allowed-hosts ${shown}\` (or createEmulator({ allowedHosts: ["${shown}"] })).`;
  }
}

/** The host name of a `Host` header (`name`, `name:port`, `[v6]:port`), lower-cased; undefined when it is not one. */
function hostnameOf(header: string): string | undefined {
  try {
    const url = new URL(`http://${header.trim()}`);
    // A header with a path or credentials in it is not a Host header.
    if (url.pathname !== "/" || url.username || url.password || url.search || url.hash) return undefined;
    return normalize(url.hostname);
  } catch {
    return undefined;
  }
}

/** Lower case, without the trailing dot of a fully qualified name. */
function normalize(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}
