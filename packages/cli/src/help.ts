// Help texts live apart from the commands so `--help` loads none of their dependencies.

export const usage = `nimbus <command> [options]

Commands:
  graph [dir]                   print the app's resource graph as JSON
  schedule next [dir] <name>    print a schedule's next firings

Run \`nimbus <command> --help\` for a command's options.`;

export const graphHelp = `nimbus graph [dir]

Prints the app's resource graph as JSON: every resource with its normalised spec and
every edge, sorted, the same bytes for the same app.

  dir   the folder holding nimbus.app.ts (default: the current folder)`;

export const scheduleHelp = `nimbus schedule next [dir] <name> [--count N] [--from ISO-TIME]

Prints a schedule's next firings, in its time zone and in UTC.

  dir        the folder holding nimbus.app.ts (default: the current folder)
  name       the schedule's name
  --count    how many firings (default 5)
  --from     start after this instant (default: now), e.g. 2026-03-28T00:00:00Z`;
