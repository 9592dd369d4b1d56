import { httpApiSuite, type StartOptions } from "../http-api/suite.ts";
import { DECODED_PATH_FAILURES } from "./support/gateway-known-failures.ts";
import { startLambdaDeployment } from "./support/lambda-deployment.ts";

// The same HTTP API suite as the local server and the Node server on AWS storage, through the Lambda
// handler behind the API Gateway emulation (10 MB body, 6 MiB payload, base64 bodies, 30 s timeout),
// on radosgw and DynamoDB Local. It passes on the Node server over the same storage, so any
// difference here is an adapter bug (or a platform limit, documented where it bites).
// The emulator hands rawPath over percent-decoded, as API Gateway does (DECODED_PATH_FAILURES says
// what that costs); gateway-switches.test.ts runs the suite under the other unsettled behaviours.
httpApiSuite(
  "the Lambda behind API Gateway (emulated), on S3 and DynamoDB",
  async (options: StartOptions = {}) => {
    const deployment = await startLambdaDeployment(options);
    return { url: deployment.url, close: () => deployment.close() };
  },
  { knownFailures: DECODED_PATH_FAILURES },
);
