export type { CommunicationBus, MessageHandler, DeadLetter, AgentPublicKeyInfo, BusRestoreReport } from "./types.js";
export { createCommunicationBus, createTransport, type CreateBusOptions } from "./create-bus.js";
export { SecureCommunicationBus, type SecureBusDeps } from "./secure-bus.js";
export { topicMatches, validatePattern, validateTopic } from "./topics.js";
