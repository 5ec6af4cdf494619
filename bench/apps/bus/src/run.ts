/** A run of the bus benchmark: `count` events in calls of `batch`, spread over `rules` detail-types. */
export interface PutRun {
  count: number;
  batch: number;
  rules: number;
}
