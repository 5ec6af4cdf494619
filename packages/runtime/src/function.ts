/** The binding a function gets in `env` for a linked function: call its `fetch` directly. */
export interface FunctionClient {
  fetch(input: Request | string | URL, init?: RequestInit): Promise<Response>;
}
