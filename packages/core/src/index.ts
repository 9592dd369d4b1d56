// @stratus/core: the registry, transport-free. Entry adapters call createRegistry(...).handle(request).
export { createRegistry, type Registry, type RegistryDeps } from "./registry.ts";
export type { SweepOptions } from "./services/upload-sweep.ts";
export { parseRegistryConfig, registryConfigSchema, type RegistryConfig, type RegistryConfigInput } from "./config.ts";
export { OCI_ERRORS, RegistryError, isRegistryError, type OciErrorCode } from "./errors.ts";
export * from "./ports.ts";
export { parseDigest, tryParseDigest, digestOf, digestAlgorithm, digestHex, type Digest, type DigestAlgorithm } from "./oci/digest.ts";
export { parseRepositoryName, parseTag, isTag, namespaceOf, type RepositoryName, type Tag } from "./oci/names.ts";
export { MediaType, EMPTY_BLOB } from "./oci/media-types.ts";
export { parseManifest, type ParsedManifest, type Descriptor } from "./oci/manifest-schema.ts";
export { rawPathProblem } from "./http/raw-path.ts";
export { OpenOnLoopbackAuthorizer, isLoopbackAddress } from "./open-on-loopback.ts";
export { UploadLinks, type UploadLinksOptions } from "./http/upload-links.ts";
export { TokenKeySet, MIN_TOKEN_SECRET_LENGTH } from "./auth/token-keys.ts";
export type { TokenAuthDeps } from "./auth/token-auth.ts";
export type { Principal } from "./auth/principal.ts";
export { generateApiKey, parseApiKey } from "./auth/api-keys.ts";
export { decideTenancyMode, settleTenancyMode, TenancyModeError, type ModeNames } from "./services/tenancy-mode.ts";
export { BUILT_IN_DEFAULT_PLAN, DEFAULT_PLAN_NAME, DEFAULT_UPLOAD_SESSIONS, UNLIMITED } from "./services/plans.ts";
