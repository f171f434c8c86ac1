import { dockerLeftovers } from "../../test/helpers/docker.js";
import { describeSandboxContract } from "./sandbox.contract.js";

await describeSandboxContract({
  name: "docker",
  tier: "Tier1",
  leftovers: (id, h) => dockerLeftovers(id, h.workspaceRoot),
});
