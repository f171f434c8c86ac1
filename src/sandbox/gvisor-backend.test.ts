import { describeSandboxContract } from "./sandbox.contract.js";
import { dockerLeftovers } from "./docker-backend.test.js";

await describeSandboxContract({
  name: "gvisor",
  tier: "Tier2",
  leftovers: (id, h) => dockerLeftovers(id, h.workspaceRoot),
});
