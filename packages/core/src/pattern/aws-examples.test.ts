/**
 * The examples of AWS's EventBridge documentation (content filtering, comparison operators, arrays,
 * null values, $or) as cases: pattern, event, expected result. Where the docs show only a pattern,
 * the events are the ones their prose describes.
 */
import { describe, expect, it } from "vitest";
import { matchesPattern } from "./match.ts";
import { referenceMatches } from "./reference.test-helper.ts";
import { compileRules } from "./rules.ts";
import type { EventPattern } from "./types.ts";

interface Case {
  title: string;
  pattern: EventPattern;
  event: Record<string, unknown>;
  matches: boolean;
}

/** The sample EC2 event that the content-filtering examples are written against. */
const ec2 = {
  version: "0",
  id: "ddddd4-aaaa-7777-4444-345dd43cc333",
  "detail-type": "EC2 Instance State-change Notification",
  source: "aws.ec2",
  account: "012345679012",
  time: "2017-10-02T16:24:49Z",
  region: "us-east-1",
  resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
  detail: {
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.33",
    "instance-id": "i-000000aaaaaa00000",
    state: "running",
  },
};

const withDetail = (detail: Record<string, unknown>) => ({ ...ec2, detail: { ...ec2.detail, ...detail } });
const withField = (field: Record<string, unknown>) => ({ ...ec2, ...field });

const cases: Case[] = [
  // Event patterns: the EC2 instance-termination example.
  {
    title: "equals — source, detail-type and detail.state all match",
    pattern: {
      source: ["aws.ec2"],
      "detail-type": ["EC2 Instance State-change Notification"],
      detail: { state: ["terminated"] },
    },
    event: withDetail({ state: "terminated" }),
    matches: true,
  },
  {
    title: "equals — one field differing is enough to fail",
    pattern: {
      source: ["aws.ec2"],
      "detail-type": ["EC2 Instance State-change Notification"],
      detail: { state: ["terminated"] },
    },
    event: ec2,
    matches: false,
  },
  {
    title: "equals — a list of values matches any of them, other fields are ignored",
    pattern: {
      "detail-type": ["EC2 Instance State-change Notification"],
      resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
      detail: { state: ["initializing", "running"] },
    },
    event: ec2,
    matches: true,
  },
  // Prefix matching.
  {
    title: "prefix — time starting with 2017-10-02",
    pattern: { time: [{ prefix: "2017-10-02" }] },
    event: withField({ time: "2017-10-02T18:43:48Z" }),
    matches: true,
  },
  {
    title: "prefix — time on another day",
    pattern: { time: [{ prefix: "2017-10-02" }] },
    event: withField({ time: "2017-10-03T18:43:48Z" }),
    matches: false,
  },
  {
    title: "prefix — European regions",
    pattern: { source: ["aws.autoscaling"], region: [{ prefix: "eu-" }] },
    event: withField({ source: "aws.autoscaling", region: "eu-west-1" }),
    matches: true,
  },
  {
    title: "prefix (equals-ignore-case) — service starting with EventB in any casing",
    pattern: { detail: { service: [{ prefix: { "equals-ignore-case": "EventB" } }] } },
    event: withDetail({ service: "eventbridge" }),
    matches: true,
  },
  {
    title: "prefix (equals-ignore-case) — upper case service",
    pattern: { detail: { service: [{ prefix: { "equals-ignore-case": "EventB" } }] } },
    event: withDetail({ service: "EVENTBRIDGE" }),
    matches: true,
  },
  {
    title: "prefix (equals-ignore-case) — a different service",
    pattern: { detail: { service: [{ prefix: { "equals-ignore-case": "EventB" } }] } },
    event: withDetail({ service: "Events" }),
    matches: false,
  },
  // Suffix matching.
  {
    title: "suffix — FileName ending in .png",
    pattern: { FileName: [{ suffix: ".png" }] },
    event: withField({ FileName: "photo.png" }),
    matches: true,
  },
  {
    title: "suffix — case matters",
    pattern: { FileName: [{ suffix: ".png" }] },
    event: withField({ FileName: "photo.PNG" }),
    matches: false,
  },
  {
    title: "suffix (equals-ignore-case) — .PNG matches .png",
    pattern: { detail: { FileName: [{ suffix: { "equals-ignore-case": ".png" } }] } },
    event: withDetail({ FileName: "photo.PNG" }),
    matches: true,
  },
  // Anything-but matching.
  {
    title: "anything-but — a state other than initializing",
    pattern: { detail: { state: [{ "anything-but": "initializing" }] } },
    event: ec2,
    matches: true,
  },
  {
    title: "anything-but — the excluded state",
    pattern: { detail: { state: [{ "anything-but": "initializing" }] } },
    event: withDetail({ state: "initializing" }),
    matches: false,
  },
  {
    title: "anything-but — a number other than 123",
    pattern: { detail: { "x-limit": [{ "anything-but": 123 }] } },
    event: ec2,
    matches: true,
  },
  {
    title: "anything-but — the excluded number",
    pattern: { detail: { "x-limit": [{ "anything-but": 123 }] } },
    event: withDetail({ "x-limit": 123 }),
    matches: false,
  },
  {
    title: "anything-but — a list of strings",
    pattern: { detail: { state: [{ "anything-but": ["stopped", "overloaded"] }] } },
    event: ec2,
    matches: true,
  },
  {
    title: "anything-but — a value in the excluded list of strings",
    pattern: { detail: { state: [{ "anything-but": ["stopped", "overloaded"] }] } },
    event: withDetail({ state: "overloaded" }),
    matches: false,
  },
  {
    title: "anything-but — a list of numbers",
    pattern: { detail: { "x-limit": [{ "anything-but": [100, 200, 300] }] } },
    event: ec2,
    matches: true,
  },
  {
    title: "anything-but — a value in the excluded list of numbers",
    pattern: { detail: { "x-limit": [{ "anything-but": [100, 200, 300] }] } },
    event: withDetail({ "x-limit": 200 }),
    matches: false,
  },
  {
    title: "anything-but prefix — state not starting with init",
    pattern: { detail: { state: [{ "anything-but": { prefix: "init" } }] } },
    event: ec2,
    matches: true,
  },
  {
    title: "anything-but prefix — state starting with init",
    pattern: { detail: { state: [{ "anything-but": { prefix: "init" } }] } },
    event: withDetail({ state: "initializing" }),
    matches: false,
  },
  {
    title: "anything-but suffix — FileName not ending in .txt",
    pattern: { detail: { FileName: [{ "anything-but": { suffix: ".txt" } }] } },
    event: withDetail({ FileName: "notes.png" }),
    matches: true,
  },
  {
    title: "anything-but suffix — FileName ending in .txt",
    pattern: { detail: { FileName: [{ "anything-but": { suffix: ".txt" } }] } },
    event: withDetail({ FileName: "notes.txt" }),
    matches: false,
  },
  {
    title: "anything-but equals-ignore-case — another state",
    pattern: { detail: { state: [{ "anything-but": { "equals-ignore-case": "initializing" } }] } },
    event: ec2,
    matches: true,
  },
  {
    title: "anything-but equals-ignore-case — the excluded state in capitals",
    pattern: { detail: { state: [{ "anything-but": { "equals-ignore-case": "initializing" } }] } },
    event: withDetail({ state: "INITIALIZING" }),
    matches: false,
  },
  {
    title: "anything-but equals-ignore-case list — pending is not excluded",
    pattern: { detail: { state: [{ "anything-but": { "equals-ignore-case": ["initializing", "stopped"] } }] } },
    event: withDetail({ state: "pending" }),
    matches: true,
  },
  {
    title: "anything-but equals-ignore-case list — Stopped is excluded",
    pattern: { detail: { state: [{ "anything-but": { "equals-ignore-case": ["initializing", "stopped"] } }] } },
    event: withDetail({ state: "Stopped" }),
    matches: false,
  },
  {
    title: "anything-but wildcard — a path outside /lib/",
    pattern: { detail: { FilePath: [{ "anything-but": { wildcard: "*/lib/*" } }] } },
    event: withDetail({ FilePath: "/usr/bin/app" }),
    matches: true,
  },
  {
    title: "anything-but wildcard — a path inside /lib/",
    pattern: { detail: { FilePath: [{ "anything-but": { wildcard: "*/lib/*" } }] } },
    event: withDetail({ FilePath: "/usr/lib/libc.so" }),
    matches: false,
  },
  // Numeric matching.
  {
    title: "numeric — all three ranges hold",
    pattern: {
      detail: {
        "c-count": [{ numeric: [">", 0, "<=", 5] }],
        "d-count": [{ numeric: ["<", 10] }],
        "x-limit": [{ numeric: ["=", 3.018e2] }],
      },
    },
    event: ec2,
    matches: true,
  },
  {
    title: "numeric — c-count 0 is not > 0",
    pattern: {
      detail: {
        "c-count": [{ numeric: [">", 0, "<=", 5] }],
        "d-count": [{ numeric: ["<", 10] }],
        "x-limit": [{ numeric: ["=", 3.018e2] }],
      },
    },
    event: withDetail({ "c-count": 0 }),
    matches: false,
  },
  {
    title: "numeric — 101.0 is > 100",
    pattern: { number: [{ numeric: [">", 100] }] },
    event: withField({ number: 101.0 }),
    matches: true,
  },
  {
    title: 'numeric: only JSON numbers, not the string "300"',
    pattern: { number: [{ numeric: [">", 100] }] },
    event: withField({ number: "300" }),
    matches: false,
  },
  // IP address matching.
  {
    title: "cidr — 10.0.0.255 is in 10.0.0.0/24",
    pattern: { detail: { sourceIPAddress: [{ cidr: "10.0.0.0/24" }] } },
    event: withDetail({ sourceIPAddress: "10.0.0.255" }),
    matches: true,
  },
  {
    title: "cidr — 10.0.1.1 is not in 10.0.0.0/24",
    pattern: { detail: { sourceIPAddress: [{ cidr: "10.0.0.0/24" }] } },
    event: withDetail({ sourceIPAddress: "10.0.1.1" }),
    matches: false,
  },
  {
    title: "cidr — an IPv6 address written in full, in a compressed block",
    pattern: { detail: { sourceIPAddress: [{ cidr: "2001:db8:1234:1a00::/64" }] } },
    event: withDetail({ sourceIPAddress: "2001:0db8:1234:1a00:0000:0000:0000:0000" }),
    matches: true,
  },
  {
    title: "cidr — an IPv6 address outside the block",
    pattern: { detail: { sourceIPAddress: [{ cidr: "2001:db8:1234:1a00::/64" }] } },
    event: withDetail({ sourceIPAddress: "2001:db8:1234:1a01::1" }),
    matches: false,
  },
  {
    title: "cidr — a number is not an IP address",
    pattern: { detail: { sourceIPAddress: [{ cidr: "10.0.0.0/24" }] } },
    event: withDetail({ sourceIPAddress: 123 }),
    matches: false,
  },
  // Exists matching.
  {
    title: "exists — detail.state is present",
    pattern: { detail: { state: [{ exists: true }] } },
    event: {
      version: "0",
      id: "7bf73129-1428-4cd3-a780-95db273d1602",
      "detail-type": "EC2 Instance State-change Notification",
      source: "aws.ec2",
      account: "123456789012",
      time: "2015-11-11T21:29:54Z",
      region: "us-east-1",
      resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
      detail: { "instance-id": "i-abcd1111", state: "pending" },
    },
    matches: true,
  },
  {
    title: "exists — detail.state is absent",
    pattern: { detail: { state: [{ exists: true }] } },
    event: {
      "detail-type": "EC2 Instance State-change Notification",
      resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
      detail: { "c-count": { c1: 100 } },
    },
    matches: false,
  },
  {
    title: "exists false — no detail.c-count field",
    pattern: { detail: { "c-count": [{ exists: false }] } },
    event: {
      "detail-type": "EC2 Instance State-change Notification",
      resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
      detail: { state: ["initializing", "running"] },
    },
    matches: true,
  },
  {
    title: "exists false — c-count holding an object is not a leaf, so it counts as absent",
    pattern: { detail: { "c-count": [{ exists: false }] } },
    event: {
      "detail-type": "EC2 Instance State-change Notification",
      resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
      detail: { state: ["initializing", "running"], "c-count": { c1: 100 } },
    },
    matches: true,
  },
  {
    title: "exists false — a leaf value deep inside is present",
    pattern: { detail: { level1: { level2: { level3: { level4: [{ exists: false }] } } } } },
    event: withDetail({ level1: { level2: { level3: { level4: "l4 value" } } } }),
    matches: false,
  },
  {
    title: "exists — an empty array has no value",
    pattern: { resources: [{ exists: true }] },
    event: withField({ resources: [] }),
    matches: false,
  },
  // Equals-ignore-case matching.
  {
    title: "equals-ignore-case — detail-type in another casing",
    pattern: { "detail-type": [{ "equals-ignore-case": "ec2 instance state-change notification" }] },
    event: ec2,
    matches: true,
  },
  // Wildcard matching.
  {
    title: "wildcard — any account and bus name",
    pattern: { EventBusArn: [{ wildcard: "arn:aws:events:us-east-1:*:event-bus/*" }] },
    event: withField({ EventBusArn: "arn:aws:events:us-east-1:123456789012:event-bus/myEventBus" }),
    matches: true,
  },
  {
    title: "wildcard — another region",
    pattern: { EventBusArn: [{ wildcard: "arn:aws:events:us-east-1:*:event-bus/*" }] },
    event: withField({ EventBusArn: "arn:aws:events:eu-west-1:123456789012:event-bus/myEventBus" }),
    matches: false,
  },
  {
    title: "wildcard — one * spans several directories",
    pattern: { FileName: [{ wildcard: "/Users/*/doc.txt" }] },
    event: withField({ FileName: "/Users/ls_user/dir/dir/dir/dir/dir/doc.txt" }),
    matches: true,
  },
  {
    title: "wildcard — repeated directories after the wildcard",
    pattern: { FileName: [{ wildcard: "/Users/*/dir/dir/dir/dir/dir/doc.txt" }] },
    event: withField({ FileName: "/Users/ls_user/dir/dir/dir/dir/dir/doc.txt" }),
    matches: true,
  },
  {
    title: "wildcard — Simple*Service",
    pattern: { source: [{ wildcard: "Simple*Service" }] },
    event: withField({ source: "SimpleQueueService" }),
    matches: true,
  },
  // Complex example with multiple matching.
  {
    title: "complex — prefix, anything-but and numeric together",
    pattern: {
      time: [{ prefix: "2017-10-02" }],
      detail: {
        state: [{ "anything-but": "initializing" }],
        "c-count": [{ numeric: [">", 0, "<=", 5] }],
        "d-count": [{ numeric: ["<", 10] }],
        "x-limit": [{ "anything-but": [100, 200, 300] }],
        "source-ip": [{ cidr: "10.0.0.0/8" }],
      },
    },
    event: ec2,
    matches: true,
  },
  {
    title: "complex — x-limit excluded",
    pattern: {
      time: [{ prefix: "2017-10-02" }],
      detail: {
        state: [{ "anything-but": "initializing" }],
        "c-count": [{ numeric: [">", 0, "<=", 5] }],
        "d-count": [{ numeric: ["<", 10] }],
        "x-limit": [{ "anything-but": [100, 200, 300] }],
      },
    },
    event: withDetail({ "x-limit": 300 }),
    matches: false,
  },
  // Complex example with $or matching.
  {
    title: "$or — d-count < 10 is enough",
    pattern: {
      detail: {
        $or: [
          { "c-count": [{ numeric: [">", 0, "<=", 5] }] },
          { "d-count": [{ numeric: ["<", 10] }] },
          { "x-limit": [{ numeric: ["=", 3.018e2] }] },
        ],
      },
    },
    event: withDetail({ "c-count": 0, "d-count": 0, "x-limit": 9.018e2 }),
    matches: true,
  },
  {
    title: "$or — no branch holds",
    pattern: {
      detail: {
        $or: [
          { "c-count": [{ numeric: [">", 0, "<=", 5] }] },
          { "d-count": [{ numeric: ["<", 10] }] },
          { "x-limit": [{ numeric: ["=", 3.018e2] }] },
        ],
      },
    },
    event: withDetail({ "c-count": 0, "d-count": 10, "x-limit": 9.018e2 }),
    matches: false,
  },
  {
    title: "$or — source and (metricName or namespace)",
    pattern: {
      source: ["aws.cloudwatch"],
      $or: [{ metricName: ["CPUUtilization", "ReadLatency"] }, { namespace: ["AWS/EC2", "AWS/ES"] }],
    },
    event: { source: "aws.cloudwatch", namespace: "AWS/ES" },
    matches: true,
  },
  {
    title: "$or — nested $or inside a branch with other fields",
    pattern: {
      source: ["aws.cloudwatch"],
      $or: [
        { metricName: ["CPUUtilization", "ReadLatency"] },
        {
          metricType: ["MetricType"],
          namespace: ["AWS/EC2", "AWS/ES"],
          $or: [{ metricId: [1234] }, { spaceId: [1000] }],
        },
        { scope: ["Service"] },
      ],
    },
    event: { source: "aws.cloudwatch", metricType: "MetricType", namespace: "AWS/EC2", spaceId: 1000 },
    matches: true,
  },
  {
    title: "$or — nested $or fails when neither inner branch holds",
    pattern: {
      source: ["aws.cloudwatch"],
      $or: [
        { metricName: ["CPUUtilization", "ReadLatency"] },
        {
          metricType: ["MetricType"],
          namespace: ["AWS/EC2", "AWS/ES"],
          $or: [{ metricId: [1234] }, { spaceId: [1000] }],
        },
        { scope: ["Service"] },
      ],
    },
    event: { source: "aws.cloudwatch", metricType: "MetricType", namespace: "AWS/EC2", spaceId: 1001 },
    matches: false,
  },
  // Null values and empty strings.
  {
    title: "equals — an empty string matches an empty eventVersion",
    pattern: { detail: { eventVersion: [""] } },
    event: withDetail({ eventVersion: "", responseElements: null }),
    matches: true,
  },
  {
    title: "equals — null matches a null responseElements",
    pattern: { detail: { responseElements: [null] } },
    event: withDetail({ eventVersion: "", responseElements: null }),
    matches: true,
  },
  {
    title: "equals — an empty string does not match null",
    pattern: { detail: { responseElements: [""] } },
    event: withDetail({ eventVersion: "", responseElements: null }),
    matches: false,
  },
  {
    title: "equals — null does not match a missing field",
    pattern: { detail: { responseElements: [null] } },
    event: ec2,
    matches: false,
  },
  // Arrays.
  {
    title: "equals — event array and pattern list intersect",
    pattern: {
      resources: [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f",
      ],
    },
    event: withField({
      resources: [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
      ],
    }),
    matches: true,
  },
  {
    title: "equals — event array and pattern list do not intersect",
    pattern: { resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"] },
    event: withField({ resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-00000000"] }),
    matches: false,
  },
  {
    title: "equals — fields of one array element must match in that same element",
    pattern: { employees: { firstName: ["Anna"], lastName: ["Jones"] } },
    event: {
      employees: [
        { firstName: "John", lastName: "Doe" },
        { firstName: "Anna", lastName: "Smith" },
        { firstName: "Peter", lastName: "Jones" },
      ],
    },
    matches: false,
  },
  {
    title: "equals — an object inside an array is read as the field's value",
    pattern: { employees: { firstName: ["Anna"] } },
    event: { employees: [[{ firstName: "John" }, { firstName: "Anna" }], [{ firstName: "Peter" }]] },
    matches: true,
  },
  // Considerations: numbers compare by value.
  {
    title: "equals — 300 matches 3.0e2",
    pattern: { detail: { "x-limit": [300] } },
    event: withDetail({ "x-limit": 3.0e2 }),
    matches: true,
  },
  {
    title: "anything-but — a null value is not the excluded string",
    pattern: { detail: { state: [{ "anything-but": "initializing" }] } },
    event: withDetail({ state: null }),
    matches: true,
  },
  // Ruler's README, "Compiled rules and JSON keys with dots": keys are joined with ".", so both rules
  // compile to the same path and match both events.
  {
    title: "equals — nested keys in the rule match nested keys in the event",
    pattern: { detail: { state: { status: ["running"] } } },
    event: { detail: { state: { status: "running" } } },
    matches: true,
  },
  {
    title: "equals — nested keys in the rule match a dotted key in the event",
    pattern: { detail: { state: { status: ["running"] } } },
    event: { detail: { "state.status": "running" } },
    matches: true,
  },
  {
    title: "equals — a dotted key in the rule matches nested keys in the event",
    pattern: { detail: { "state.status": ["running"] } },
    event: { detail: { state: { status: "running" } } },
    matches: true,
  },
  {
    title: "equals — a dotted key in the rule matches a dotted key in the event",
    pattern: { detail: { "state.status": ["running"] } },
    event: { detail: { "state.status": "running" } },
    matches: true,
  },
  // AWS's TestEventPattern answers true for a top-level dotted key against a nested event.
  {
    title: "equals — detail.name at the top level matches detail → name",
    pattern: { "detail.name": ["x"] },
    event: withDetail({ name: "x" }),
    matches: true,
  },
];

describe("AWS documentation examples", () => {
  for (const example of cases) {
    it(`matchesPattern: ${example.title}`, () => {
      expect(matchesPattern(example.pattern, example.event)).toBe(example.matches);
    });
  }
  it("reference: agrees with every documented example", () => {
    for (const example of cases) {
      expect(referenceMatches(example.pattern, example.event), example.title).toBe(example.matches);
    }
  });
  it("compileRules: selects exactly the documented matches", () => {
    const rules = compileRules(cases.map((example, index) => ({ name: `case-${index}`, pattern: example.pattern })));
    cases.forEach((example, index) => {
      expect(rules.match(example.event).includes(`case-${index}`), example.title).toBe(example.matches);
    });
  });
});
