import type { DeliveryPolicy } from "./decide.ts";

/**
 * How long a message waits before its next delivery after `attempts` failed ones:
 * exponential back-off with "equal jitter" (AWS Architecture Blog, "Exponential Backoff
 * And Jitter"), clamped so that it never leaves [initial, max] (docs/semantics.md,
 * queues/redelivery/2):
 *
 *     base  = min(max, initial × 2^(attempts − 1))
 *     delay = uniform in [max(initial, base / 2), base]
 *
 * So the first retry waits exactly `initial`, each later one about doubles, and the
 * jitter spreads retries of messages that failed together (half of the wait is kept, so
 * none comes back almost at once). With `initial` 0 there is no back-off: 0. Whole
 * milliseconds.
 */
export function backoffDelay(
  policy: Pick<DeliveryPolicy, "backoff">,
  attempts: number,
  random: () => number = Math.random,
): number {
  const { initial } = policy.backoff;
  if (initial <= 0) return 0;
  // The spec refuses initial > max; should one get here anyway, initial wins over max.
  const max = Math.max(initial, policy.backoff.max);
  // 2 ** 1024 is Infinity, which min() turns into max: no overflow for any attempt count.
  const base = Math.min(max, initial * 2 ** Math.max(0, attempts - 1));
  const low = Math.max(initial, base / 2);
  return Math.min(base, Math.max(initial, Math.round(low + random() * (base - low))));
}
