// The HTTP API suite's tests that fail by nature under API Gateway's pessimistic answers
// (api-gateway-emulator.ts PESSIMISTIC_SWITCHES; docs/lambda.md "Unsettled gateway behaviours"), by
// test name, each with its reason. Every other test must pass (test/http-api/known-failures.ts).

const PERCENT_ENCODED_SLASH =
  "the gateway decodes %2F to /: the registry gets a/b, a valid name, and answers 404 NAME_UNKNOWN (harmless: the name the registry routes is the one it authorizes)";

/** decodeRawPath (the emulator's default, as captured events show). */
export const DECODED_PATH_FAILURES: Readonly<Record<string, string>> = {
  "a name with a percent-encoded slash is 400 NAME_INVALID": PERCENT_ENCODED_SLASH,
};

const MANIFEST_HEAD_SIZE = "manifest HEAD without Content-Length: manifests live in DynamoDB, no presigned HEAD can carry their size";
const MANIFEST_TESTS = [
  "an OCI image manifest by tag: 201 Location and Docker-Content-Digest; GET/HEAD by tag and digest",
  "a manifest with odd whitespace and key order is served byte for byte",
  "PUT by digest: 201 with Location; the manifest is untagged",
  "PUT by digest with ?tag=a&tag=b sets both tags",
  "an OCI index whose children were pushed first",
  "a Docker schema 2 manifest and a Docker manifest list",
  "an artifact with artifactType and the empty config, whose empty blob was never uploaded",
  "a Helm chart",
  "pushing a tag again moves it to the new manifest",
  "DELETE by digest answers 202; the manifest and its tags are gone",
  "DELETE by tag answers 202 and removes only that tag",
];
const manifestHead = Object.fromEntries(MANIFEST_TESTS.map((name) => [name, MANIFEST_HEAD_SIZE]));

/** dropHeadContentLength, without STRATUS_HEAD_REDIRECT. */
export const DROPPED_HEAD_LENGTH_FAILURES: Readonly<Record<string, string>> = {
  ...DECODED_PATH_FAILURES,
  "HEAD answers 200 with Content-Length and Docker-Content-Digest, no body": "the gateway drops the blob HEAD's Content-Length (remedy: STRATUS_HEAD_REDIRECT)",
  "the empty descriptor blob {} is readable in any repository, never uploaded": "the gateway drops the blob HEAD's Content-Length (remedy: STRATUS_HEAD_REDIRECT)",
  ...manifestHead,
};

const FROM_S3 = "with STRATUS_HEAD_REDIRECT the blob HEAD is answered by S3 (true Content-Length), which sends no Docker-Content-Digest; clients read only the size";
/** dropHeadContentLength with STRATUS_HEAD_REDIRECT: what the redirect cannot give. */
export const REDIRECTED_HEAD_FAILURES: Readonly<Record<string, string>> = {
  ...DECODED_PATH_FAILURES,
  "HEAD answers 200 with Content-Length and Docker-Content-Digest, no body": FROM_S3,
  "sha512 digests work for blobs": FROM_S3,
  "the empty descriptor blob {} is readable in any repository, never uploaded":
    "with STRATUS_HEAD_REDIRECT a never-uploaded empty descriptor has no S3 object: HEAD answers 404 so clients upload its 2 bytes (GET still serves it)",
  ...manifestHead,
};

/** rejectChunkedRequests, without the upload service. */
export const REJECTED_CHUNKED_FAILURES: Readonly<Record<string, string>> = {
  ...DECODED_PATH_FAILURES,
  "a streamed PATCH without Content-Length answers 202 with Range 0-(n-1); PUT ?digest= finishes it":
    "the gateway refuses a chunked request with 411 before the function (remedy: the upload service, STRATUS_UPLOAD_URL)",
};
