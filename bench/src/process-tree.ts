import { readdir, readFile } from "node:fs/promises";

/**
 * Resident memory of a process tree in bytes, from Linux's /proc: `pid` and every process
 * below it, or only those below it with `descendantsOnly` (a baseline's workerd, say,
 * without the benchmark's own process).
 */
export async function treeRss(pid: number, options: { descendantsOnly?: boolean } = {}): Promise<number> {
  const parents = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(`/proc/${entry}/status`, "utf8");
      parents.set(Number(entry), Number(/PPid:\s+(\d+)/.exec(status)?.[1]));
      rss.set(Number(entry), Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
    } catch {
      // exited meanwhile
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const current = stack.pop()!;
    if (current !== pid || !options.descendantsOnly) total += rss.get(current) ?? 0;
    for (const [child, parent] of parents) if (parent === current) stack.push(child);
  }
  return total;
}
