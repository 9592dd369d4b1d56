// @stratus/stacks: the AWS CDK constructs of a Stratus deployment (infra/app.ts composes them per stage).
export { RegistryStack, type RegistryStackProps, type RegistryStageSettings } from "./registry-stack.ts";
export { RegistryStorage, type RegistryStorageProps } from "./storage.ts";
export { RegistryApi, LAMBDA_ENTRY, type RegistryApiProps } from "./registry-api.ts";
export { UploadService, type UploadServiceProps } from "./upload-service.ts";
export { AuthSecrets, type AuthSecretsProps } from "./auth-secrets.ts";
