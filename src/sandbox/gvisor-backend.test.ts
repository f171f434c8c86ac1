import { dockerLeftovers } from "../../test/helpers/docker.js";
import { describeSandboxContract } from "./sandbox.contract.js";

await describeSandboxContract({
  name: "gvisor",
  tier: "Tier2",
  leftovers: (id, h) => dockerLeftovers(id, h.workspaceRoot),
});
