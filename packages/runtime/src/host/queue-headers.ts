/**
 * A queue message's own state, carried in its JetStream headers (queue.ts "Layout"):
 * a retry is a new JetStream message, so nothing may live in the stream's bookkeeping.
 * Shared by the driver (`JetStreamQueues`) and the operator tools (`QueueAdmin`).
 */
import { randomUUID } from "node:crypto";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import { type Chain, formatChain, parseChain } from "@nimbus/core";

export const header = {
  id: "Nimbus-Id",
  format: "Nimbus-Format",
  firstSeen: "Nimbus-First-Seen",
  attempts: "Nimbus-Attempts",
  copy: "Nimbus-Copy",
  notBefore: "Nimbus-Not-Before",
  lastError: "Nimbus-Last-Error",
  deadFrom: "Nimbus-Dead-From",
  deadAttempts: "Nimbus-Dead-Attempts",
  /**
   * On a bus's stream, an event `QueueAdmin.redrive` put back: the rule (`<bus>/<rule>`)
   * whose target this bus is, where it was refused. The router takes it to this bus as
   * that rule's target, counting the buses afresh from the rule's bus (semantics buses/retries/5).
   */
  redrivenBy: "Nimbus-Redriven-By",
  /**
   * `<id>;<depth>`: the chain of the invocation that sent the message, put the event or
   * wrote the object (docs/semantics.md, "Recursive loops"); absent for what came from
   * outside one. Kept by retries and dead letters, dropped by a redrive.
   */
  chain: "Nimbus-Chain",
} as const;

/** A message read from its headers. */
export interface Carried {
  id: string;
  format: "json" | "bytes";
  firstSeen: number;
  attempts: number;
  copy: number;
  notBefore: number;
  lastError?: string;
  deadFrom?: string;
  deadAttempts?: number;
  /** The chain of the invocation that sent it; absent from outside one, and after a redrive. */
  chain?: Chain;
}

export function toHeaders(carried: Carried): MsgHdrs {
  const h = natsHeaders();
  h.set(header.id, carried.id);
  h.set(header.format, carried.format);
  h.set(header.firstSeen, String(carried.firstSeen));
  h.set(header.attempts, String(carried.attempts));
  h.set(header.copy, String(carried.copy));
  if (carried.notBefore > 0) h.set(header.notBefore, String(carried.notBefore));
  // URI-encoded: a header is one line.
  if (carried.lastError !== undefined) h.set(header.lastError, encodeURIComponent(carried.lastError));
  if (carried.deadFrom !== undefined) h.set(header.deadFrom, carried.deadFrom);
  if (carried.deadAttempts !== undefined) h.set(header.deadAttempts, String(carried.deadAttempts));
  if (carried.chain !== undefined) h.set(header.chain, formatChain(carried.chain));
  return h;
}

export function fromHeaders(h: MsgHdrs | undefined): Carried {
  const get = (name: string) => h?.get(name) || undefined;
  const carried: Carried = {
    id: get(header.id) ?? randomUUID(),
    format: get(header.format) === "bytes" ? "bytes" : "json",
    firstSeen: Number(get(header.firstSeen) ?? Date.now()),
    attempts: Number(get(header.attempts) ?? 0),
    copy: Number(get(header.copy) ?? 0),
    notBefore: Number(get(header.notBefore) ?? 0),
  };
  const lastError = get(header.lastError);
  if (lastError !== undefined) carried.lastError = decodeURIComponent(lastError);
  const deadFrom = get(header.deadFrom);
  if (deadFrom !== undefined) carried.deadFrom = deadFrom;
  const deadAttempts = get(header.deadAttempts);
  if (deadAttempts !== undefined) carried.deadAttempts = Number(deadAttempts);
  const chain = parseChain(get(header.chain));
  if (chain !== undefined) carried.chain = chain;
  return carried;
}

/**
 * The stream a dead letter died in, read from its subject (`<root>.<state>.dead.<stream>`),
 * or undefined for a message sent to the queue itself. Stream names hold no `.`.
 */
export function deadSource(root: string, subject: string): string | undefined {
  const [, kind, source] = subject.slice(root.length + 1).split(".");
  return kind === "dead" ? source : undefined;
}
