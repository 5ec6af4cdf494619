/** The checks of `put` entries live in core, shared with the deployed host. */
export { type DetailCheck, detailCheck, readEntries } from "@nimbus/core/bus-entries";
