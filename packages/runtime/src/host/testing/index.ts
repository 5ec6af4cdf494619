export {
  type NatsServer,
  type NatsServerOptions,
  type NatsServerPlace,
  natsServerMissing,
  startNatsServer,
} from "./nats-server.ts";
export { freePort, stopProcess } from "./processes.ts";
