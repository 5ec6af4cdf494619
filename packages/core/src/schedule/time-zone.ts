const example = 'such as "Europe/Berlin", "America/New_York" or "UTC"';

/**
 * Why a time zone is not usable, or `undefined` when it is. Accepts IANA names (and their
 * aliases) as `Intl` knows them, spelled with the right case; rejects UTC offsets, which do
 * not follow daylight saving time.
 */
export function timeZoneProblem(timezone: unknown): string | undefined {
  if (typeof timezone !== "string") {
    return `expected an IANA time zone name ${example}; found ${describeValue(timezone)}. Write the zone as a string`;
  }
  if (timezone.trim() === "")
    return `expected an IANA time zone name ${example}; found an empty string. Leave it out for UTC`;
  if (/^(UTC|GMT)?\s*[+-]\d/i.test(timezone)) {
    return `expected an IANA time zone name ${example}; found the UTC offset "${timezone}", which does not follow daylight saving time. Use the zone's name, or "Etc/GMT-1" style names for a fixed offset (the sign is inverted: "Etc/GMT-1" is UTC+01:00)`;
  }
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    const guess = guessZone(timezone);
    const fix =
      guess === undefined ? `Use a name from the IANA time zone database ${example}` : `Did you mean "${guess}"?`;
    return `expected an IANA time zone name; found the unknown time zone "${timezone}". ${fix}`;
  }
  // Intl reads names case-insensitively, the tz database and other tools do not.
  if (resolved !== timezone && resolved.toLowerCase() === timezone.toLowerCase()) {
    return `expected the time zone spelled as in the IANA database; found "${timezone}". Write "${resolved}"`;
  }
  return undefined;
}

function guessZone(text: string): string | undefined {
  const wanted = text.trim().replace(/\s+/g, "_").toLowerCase();
  const zones = Intl.supportedValuesOf("timeZone");
  return zones.find((zone) => zone.toLowerCase() === wanted || zone.toLowerCase().endsWith(`/${wanted}`));
}

export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
