// Help texts live apart from the commands so `--help` loads none of their dependencies.

export const usage = `nimbus <command> [options]

Commands:
  dev [dir]                     run the app in the emulator on 127.0.0.1:8787
  invoke [dir] <fn>             call a function's fetch on the running emulator
  send [dir] <queue> <json>     send a message to a queue of the running emulator
  queues [dir]                  show every queue's depth, in flight, delayed, dead-lettered
  redrive [dir] <queue>         move a dead-letter queue's messages back where they died
  emit [dir] <bus> <json>       put events on a bus of the running emulator
  trigger [dir] <schedule>      fire a schedule of the running emulator now
  explain [dir] <rule> <file>   say whether a bus rule matches an event, and why not
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

export const devHelp = `nimbus dev [dir] [--port N] [--s3-port N] [--host ADDR] [--log-format pretty|json]

Runs the app in the emulator: every function built and served, sources watched and
reloaded on change, state kept in <dir>/.nimbus. Ctrl+C or SIGTERM stops it after the
requests in flight finish.

  dir            the folder holding nimbus.app.ts (default: the current folder)
  --port         port to listen on (default 8787; 0 picks a free one)
  --s3-port      port of the S3-compatible endpoint (default: --port + 1)
  --host         address to bind (default 127.0.0.1; anything else exposes the app)
  --log-format   pretty (default, coloured on a terminal) or json (one JSON object a line)`;

export const invokeHelp = `nimbus invoke [dir] <fn> [--method M] [--path P] [--data D] [--url URL]

Calls a function's fetch on the emulator running for dir (found through
<dir>/.nimbus/emulator.json, or --url), whether or not it has routes, and prints the
status (on stderr) and the body. Exits 1 on a 4xx or 5xx answer.

  --method   HTTP method (default GET, or POST with --data)
  --path     request path (default /)
  --data     request body
  --url      the emulator's URL, instead of reading it from dir`;

export const sendHelp = `nimbus send [dir] <queue> <json> [--url URL]

Sends one message, whose body is the JSON given, to a queue of the emulator running for
dir (found through <dir>/.nimbus/emulator.json, or --url). Quote the JSON for your shell:
nimbus send examples/shop fulfilment '{"id":"o-1"}'.

  --url      the emulator's URL, instead of reading it from dir`;

export const queuesHelp = `nimbus queues [dir] [--url URL]

Prints every queue of the running emulator: messages ready (depth), being delivered (in
flight), waiting for a delay or back-off (delayed), and dead-lettered.

  --url      the emulator's URL, instead of reading it from dir`;

export const redriveHelp = `nimbus redrive [dir] <queue> [--url URL]

Moves every message of a dead-letter queue back to the queue it died in, to be
delivered again from its first attempt.

  --url      the emulator's URL, instead of reading it from dir`;

export const emitHelp = `nimbus emit [dir] <bus> <json|@file> [--url URL]

Puts entries on a bus of the emulator running for dir (found through
<dir>/.nimbus/emulator.json, or --url), as a function's put would, and prints each
event's id. The JSON is one entry or a list of 1 to 10; @file reads it from a file.
Quote the JSON for your shell:
nimbus emit examples/shop orders '{"source":"shop.api","detailType":"OrderPaid","detail":{"id":"o-1","total":5}}'

  An entry: { "source", "detailType", "detail", "resources"?, "time"? }
  --url      the emulator's URL, instead of reading it from dir`;

export const triggerHelp = `nimbus trigger [dir] <schedule> [--url URL]

Fires a schedule of the emulator running for dir (found through
<dir>/.nimbus/emulator.json, or --url) now, as if its time had come, and prints the
scheduled time its target receives.

  --url      the emulator's URL, instead of reading it from dir`;

export const explainHelp = `nimbus explain [dir] <bus>/<rule> <event.json | ->

Says whether a bus rule's pattern matches an event and, if not, the first field that
fails: its path, the operator and why. Needs no running emulator. The file holds one
event as rules see it, e.g.
{ "source": "shop.api", "detail-type": "OrderPaid", "detail": { "total": 5 } }.
Exits 0 when the rule matches, 1 when it does not, 2 on an error.

  dir        the folder holding nimbus.app.ts (default: the current folder)
  rule       the rule, as <bus>/<rule>, e.g. orders/paid
  event      a JSON file holding the event, or - to read it from stdin`;
