// Help texts live apart from the commands so `--help` loads none of their dependencies.

export const usage = `nimbus <command> [options]

Commands:
  init [dir]                    write a new app from a template (blank, shop or telemetry)
  dev [dir]                     run the app in the emulator on 127.0.0.1:8787
  invoke [dir] <fn>             call a function's fetch on the running emulator
  send [dir] <queue> <json>     send a message to a queue of the running emulator
  queues [dir]                  show every queue's depth, in flight, delayed, dead-lettered
  redrive [dir] <queue>         move a dead-letter queue's messages back where they died
  dlq [dir] <queue> [--purge]   list a dead-letter queue's messages and why each died; --purge empties it
  emit [dir] <bus> <json>       put events on a bus of the running emulator
  trigger [dir] <schedule>      fire a schedule of the running emulator now
  explain [dir] <rule> <file>   say whether a bus rule matches an event, and why not
  graph [dir]                   print the app's resource graph as JSON
  build [dir] --out <folder>    bundle every function and the graph for the deployed host
  synth [dir] --out <folder>    write a standalone Pulumi project that deploys the app on Docker
  preview [dir] --stack <name>  show what deploy would change on the Docker host
  deploy [dir] --stack <name>   deploy the app on the Docker host (DOCKER_HOST) with Pulumi
  destroy [dir] --stack <name>  remove the stack's containers, images, network and volumes
  outputs [dir] --stack <name>  print the stack's gateway URL, S3 endpoint and bucket names
  schedule next [dir] <name>    print a schedule's next firings

Run \`nimbus <command> --help\` for a command's options.`;

export const initHelp = `nimbus init [dir] [--template blank|shop|telemetry] [--force]

Writes a new app into dir: nimbus.app.ts, its handlers and a test, package.json with the
Nimbus packages at this CLI's version, tsconfig.json and a .gitignore for the state
folder and .env. Then \`npm install\`, \`npm test\` and \`npm run dev\` in it.

  dir          the folder to write the app into, created when missing (default: the
               current folder); it must be empty
  --template   blank (default: one route and its test), shop (orders through a bus, a
               queue, a bucket and a schedule) or telemetry
  --force      write into a folder that has files, replacing those the template has`;

export const graphHelp = `nimbus graph [dir]

Prints the app's resource graph as JSON: every resource with its normalised spec and
every edge, sorted, the same bytes for the same app.

  dir   the folder holding nimbus.app.ts (default: the current folder)`;

export const buildHelp = `nimbus build [dir] [--out <folder>]

Builds the app for the deployed host: graph.json (the validated graph), one bundle per
function in functions/<fn>.mjs with its source map, and manifest.json listing every file
with its SHA-256. The same sources give the same bytes, so an unchanged function keeps
its hash (and its image layer).

  dir     the folder holding nimbus.app.ts (default: the current folder)
  --out   the output folder (default: <dir>/.nimbus/dist); its functions/ are replaced`;

export const synthHelp = `nimbus synth [dir] [--target docker] [--out <folder>]

Writes a standalone Pulumi project that deploys the app on one Docker host: Pulumi.yaml,
package.json with exact versions, index.ts, the graph, one bundle per function and the
bundled runtime host and store. \`npm install && pulumi up\` in that folder deploys it, so
a team can commit it and run it in its own CI. The same sources give the same bytes.

  dir        the folder holding nimbus.app.ts (default: the current folder)
  --target   docker (default; the only target built so far)
  --out      the project's folder (default: <dir>/.nimbus/deploy/docker); stack settings
             and node_modules in it are kept`;

const stackActionHelp = {
  preview: "Shows what a deploy would create, change or remove, without changing anything.",
  deploy: "Deploys the app, then prints the stack's outputs (the gateway URL among them).",
  destroy:
    "Removes everything the stack deployed: containers, images, the network and the volumes (the buckets' and queues' data with them).",
  outputs: "Prints the stack's outputs: the gateway URL, the S3 endpoint and the buckets' names.",
} as const;

export const stackHelp = (action: keyof typeof stackActionHelp) => `nimbus ${action} [dir] [--stack <name>]

${stackActionHelp[action]} Synthesizes the app into <dir>/.nimbus/deploy/docker (where
the stack's settings are kept) and drives your own \`pulumi\` through its Automation API,
printing its progress. Needs the Pulumi CLI on PATH (https://www.pulumi.com/docs/install/,
then \`pulumi login --local\`)${action === "outputs" ? "" : " and a running Docker engine (DOCKER_HOST, or /var/run/docker.sock)"}; exits 2 at once
without them.

  dir        the folder holding nimbus.app.ts (default: the current folder)
  --stack    the Pulumi stack, also the prefix of every container's name (default: dev)`;

export const scheduleHelp = `nimbus schedule next [dir] <name> [--count N] [--from ISO-TIME]

Prints a schedule's next firings, in its time zone and in UTC.

  dir        the folder holding nimbus.app.ts (default: the current folder)
  name       the schedule's name
  --count    how many firings (default 5)
  --from     start after this instant (default: now), e.g. 2026-03-28T00:00:00Z`;

export const devHelp = `nimbus dev [dir] [--port N] [--s3-port N] [--host ADDR] [--allowed-hosts NAMES] [--log-format pretty|json] [--debug]

Runs the app in the emulator: every function built and served, sources watched and
reloaded on change, state kept in <dir>/.nimbus. Ctrl+C or SIGTERM stops it after the
requests in flight finish.

  dir            the folder holding nimbus.app.ts (default: the current folder)
  --port         port to listen on (default 8787; 0 picks a free one)
  --s3-port      port of the S3-compatible endpoint (default: --port + 1)
  --host         address to bind (default 127.0.0.1; anything else exposes the app)
  --allowed-hosts  host names to answer besides localhost, *.localhost, IP addresses and
                 --host, comma-separated (.example.com: it and every name under it); a
                 request for any other name gets 403. "all" answers any (unsafe)
  --log-format   pretty (default, coloured on a terminal) or json (one JSON object a line)
  --debug        keep the emulator's own frames in handlers' error stacks (or NIMBUS_DEBUG=1)`;

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

export const dlqHelp = `nimbus dlq [dir] <queue> [--purge [--yes]] [--limit N] [--url URL]

Lists the messages waiting in a dead-letter queue of the emulator running for dir (found
through <dir>/.nimbus/emulator.json, or --url), oldest first: each with the queue (or bus
or schedule route) it died in, its attempts there, when it was first sent, its last error
and its body. \`nimbus redrive\` sends them back to be delivered again.

  --purge    then delete every message in the queue, after you confirm (y/N); without a
             terminal to ask on it refuses, unless --yes is given
  --yes, -y  with --purge: do not ask (for scripts)
  --limit    most messages listed (default 100)
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
