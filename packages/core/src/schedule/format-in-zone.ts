import { zonedFields } from "./zoned-time.ts";

const nameFormatters = new Map<string, Intl.DateTimeFormat>();

function zoneName(instantMs: number, timezone: string, locale: string): string {
  const key = `${locale} ${timezone}`;
  let formatter = nameFormatters.get(key);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat(locale, { timeZone: timezone, timeZoneName: "short" });
    nameFormatters.set(key, formatter);
  }
  return formatter.formatToParts(instantMs).find((part) => part.type === "timeZoneName")?.value ?? "";
}

/**
 * `2026-03-29 03:30:00 CEST`: an instant as wall-clock time in a zone, with the zone's
 * abbreviation where Intl knows one (otherwise an offset such as `GMT+9`), for the CLI.
 * Throws a RangeError for an unknown time zone.
 */
export function formatInZone(date: Date, timezone: string): string {
  const instant = date.getTime();
  const f = zonedFields(instant, timezone);
  const pad = (value: number, width = 2) => String(value).padStart(width, "0");
  const day = `${pad(f.year, 4)}-${pad(f.month)}-${pad(f.day)}`;
  const time = `${pad(f.hour)}:${pad(f.minute)}:${pad(f.second)}`;
  return `${day} ${time} ${abbreviation(instant, timezone)}`;
}

/** en-US knows EST/EDT but calls Berlin "GMT+2"; en-GB knows CET/CEST and BST but not EDT. */
function abbreviation(instant: number, timezone: string): string {
  const american = zoneName(instant, timezone, "en-US");
  if (!/^GMT[+-]/.test(american)) return american;
  const british = zoneName(instant, timezone, "en-GB");
  return /^GMT[+-]/.test(british) || british === "" ? american : british;
}
