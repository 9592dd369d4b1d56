// Lambda@Edge, origin response (stacks/src/challenge-front.ts). API Gateway HTTP APIs may hand a
// 401's WWW-Authenticate to the client renamed x-amzn-Remapped-WWW-Authenticate (docs/lambda.md
// "Unsettled gateway behaviours"); without the challenge no docker, podman or skopeo client logs in.
// Deployed inline (CloudFormation writes it as index.js: CommonJS); no imports, no settings.
"use strict";

const REMAPPED = "x-amzn-remapped-www-authenticate";

/** Renames the remapped challenge back, in place, unless a WWW-Authenticate is there already. */
function restoreChallenge(response) {
  const headers = response.headers;
  const remapped = headers[REMAPPED];
  if (!remapped || headers["www-authenticate"]) return response;
  headers["www-authenticate"] = remapped.map((h) => ({ key: "WWW-Authenticate", value: h.value }));
  delete headers[REMAPPED];
  return response;
}

exports.restoreChallenge = restoreChallenge;
exports.handler = async (event) => restoreChallenge(event.Records[0].cf.response);
