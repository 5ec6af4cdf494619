export { type NatsServer, natsServerMissing, startNatsServer } from "./nats-server.ts";
