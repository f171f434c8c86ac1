/**
 * Tests that need something the machine may not have (a PostgreSQL server, NATS, a Docker engine, a sandbox
 * tier) ask here. When it is missing the test skips with a printed reason — unless CI named it in
 * SYMBIONT_REQUIRE_SERVICES / SYMBIONT_REQUIRE_TIERS, in which case the missing piece is a failure.
 *
 * @example
 * const pg = await requirement("postgres", async () => probePostgres(url));
 * describe.skipIf(!pg.available)("postgres store", () => { ... });
 */

export interface Requirement {
  readonly name: string;
  readonly available: boolean;
  readonly reason?: string;
}

function requiredNames(): Set<string> {
  const names = `${process.env.SYMBIONT_REQUIRE_SERVICES ?? ""},${process.env.SYMBIONT_REQUIRE_TIERS ?? ""}`;
  return new Set(
    names
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/**
 * Runs `probe`; a throw or a string result means unavailable (the string is the reason). Throws when the
 * requirement is unavailable but required by the environment.
 */
export async function requirement(name: string, probe: () => Promise<true | string>): Promise<Requirement> {
  let reason: string | undefined;
  try {
    const r = await probe();
    if (r !== true) reason = r;
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  if (reason === undefined) return { name, available: true };
  if (requiredNames().has(name)) {
    throw new Error(`${name} is required in this run (SYMBIONT_REQUIRE_*) but unavailable: ${reason}`);
  }
  console.warn(`[skip] ${name} unavailable: ${reason}`);
  return { name, available: false, reason };
}

/** Connection URLs for the services CI starts (overridable for other machines). */
export const TEST_POSTGRES_URL = process.env.SYMBIONT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const TEST_NATS_URL = process.env.SYMBIONT_TEST_NATS_URL ?? "nats://127.0.0.1:4222";

/** Tier0 (bubblewrap + cgroups) on this host, probed through a throwaway runtime's orchestrator. */
export async function tier0Requirement(start: () => Promise<{ sandboxes: { prepareTier(tier: "Tier0"): Promise<unknown> }; shutdown(): Promise<void> }>): Promise<Requirement> {
  const probe = await start();
  return requirement("process", async () => {
    try {
      await probe.sandboxes.prepareTier("Tier0");
      return true;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await probe.shutdown();
    }
  });
}
