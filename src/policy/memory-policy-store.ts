/**
 * A PolicyStore that keeps policies for the life of the process (embedding, tests, `policy.store: memory`).
 */
import type { Policy } from "../core/types.js";
import type { PolicyStore } from "./types.js";

export class MemoryPolicyStore implements PolicyStore {
  readonly #policies = new Map<string, Policy>();

  async load(): Promise<Policy[]> {
    return [...this.#policies.values()];
  }

  async put(policy: Policy): Promise<void> {
    this.#policies.set(policy.id, structuredClone(policy));
  }

  async delete(policyId: string): Promise<boolean> {
    return this.#policies.delete(policyId);
  }

  async close(): Promise<void> {}
}
