import { formatIssue, GraphError, NimbusError } from "@nimbus/core";

/** Where a command writes; tests pass their own to read what it printed. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
};

/**
 * Prints an error the way authors need it: user errors as their message alone (no
 * stack), graph errors as one line per problem, anything else with its stack.
 */
export function reportError(error: unknown, output: Output): void {
  if (GraphError.isGraphError(error)) {
    const count = error.issues.length;
    output.err(`✖ ${count} problem${count === 1 ? "" : "s"} in the app:`);
    for (const issue of error.issues) output.err(`  • ${formatIssue(issue)}`);
    return;
  }
  if (NimbusError.is(error) && error.kind === "user") {
    output.err(`✖ ${error.message}`);
    return;
  }
  output.err(error instanceof Error ? (error.stack ?? error.message) : String(error));
}
