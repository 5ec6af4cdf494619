export { checkSupported, DockerApp, type DockerAppArgs, supportedKinds } from "./app.ts";
export { DockerBucket } from "./bucket.ts";
export { DockerBus } from "./bus.ts";
export {
  type ConfigSource,
  type DockerStackConfig,
  defaultGatewayAddress,
  defaultGatewayPort,
  defaultImages,
  defaultStorePort,
  type ExternalS3,
  readStackConfig,
} from "./config.ts";
export { controlEnvs, DockerControl } from "./control.ts";
export { deriveAccessKey, deriveSecret } from "./credentials.ts";
export {
  type ContainerPlan,
  DockerFunction,
  type FunctionContext,
  functionContainers,
  functionSlice,
  healthPaths,
  hostPort,
} from "./function.ts";
export { caddyfile, DockerGateway, gatewayHealthInterval, pathPattern } from "./gateway.ts";
export { bundlePath, functionImageContext, hostEntry, hostImageContext, imageTag } from "./images.ts";
export { type DockerNames, dockerNames, reservedNames } from "./naming.ts";
export { DockerNats, natsPassword, natsServerConfig } from "./nats.ts";
export {
  type EmitProjectOptions,
  type EmitProjectResult,
  emitProject,
  hostLayout,
  pinnedVersions,
  readProject,
  stackOutputs,
} from "./project.ts";
export { DockerProvision, provisionEnvs } from "./provision.ts";
export { DockerQueue } from "./queue.ts";
export { DockerSchedule } from "./schedule.ts";
export { DockerStore, storeEnvs, storeKeys, storePrincipals } from "./store.ts";
