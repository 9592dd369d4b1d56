import { describe, expect, it } from "vitest";
import { validateAgainstSpec } from "./support/cfn-spec.ts";

// The offline CloudFormation check the stack tests run on every synthesized template
// (support/cfn-spec.ts): what it catches, and what it leaves to CloudFormation.

const template = (Properties: Record<string, unknown>, Type = "AWS::Logs::LogGroup") => ({ Resources: { Logs: { Type, Properties } } });

describe("validateAgainstSpec", () => {
  it("accepts a valid resource, intrinsic values included", () => {
    expect(validateAgainstSpec(template({ RetentionInDays: 30, LogGroupName: { "Fn::Join": ["-", ["a", { Ref: "AWS::StackName" }]] } }))).toEqual([]);
    expect(validateAgainstSpec(template({ RetentionInDays: "30", Tags: [{ Key: "k", Value: "v" }] }))).toEqual([]);
  });

  it("names an unknown resource type, an unknown property and a missing required one", () => {
    expect(validateAgainstSpec(template({}, "AWS::Logs::LogGroupp"))).toEqual(["Logs: no resource type AWS::Logs::LogGroupp in the CloudFormation specification"]);
    expect(validateAgainstSpec(template({ Retention: 30 }))[0]).toMatch(/^Logs \(AWS::Logs::LogGroup\)\.Retention: no such property \(known: .*RetentionInDays/);
    expect(validateAgainstSpec(template({}, "AWS::SQS::QueuePolicy"))).toEqual([
      "Logs (AWS::SQS::QueuePolicy).PolicyDocument: required property missing",
      "Logs (AWS::SQS::QueuePolicy).Queues: required property missing",
    ]);
  });

  it("checks literal value types, in nested property types too", () => {
    expect(validateAgainstSpec(template({ RetentionInDays: "a month" }))).toEqual(['Logs (AWS::Logs::LogGroup).RetentionInDays: "a month" is not a integer']);
    expect(validateAgainstSpec(template({ Tags: { k: "v" } }))).toEqual(['Logs (AWS::Logs::LogGroup).Tags: {"k":"v"} is not a list of tag']);
    const fn = (Code: unknown) => template({ Role: "arn:aws:iam::1:role/r", Code }, "AWS::Lambda::Function");
    expect(validateAgainstSpec(fn({ S3Bucket: "b", S3Key: "k" }))).toEqual([]);
    expect(validateAgainstSpec(fn({ S3Bucket: "b", S3Keys: "k" }))[0]).toMatch(/^Logs \(AWS::Lambda::Function\)\.Code\.S3Keys: no such property/);
    expect(validateAgainstSpec(fn({ S3Bucket: ["b"] }))).toEqual(['Logs (AWS::Lambda::Function).Code.S3Bucket: ["b"] is not a string']);
  });

  it("checks Ref and Fn::GetAtt targets", () => {
    const t = {
      Resources: { Logs: { Type: "AWS::Logs::LogGroup", Properties: {} } },
      Outputs: { A: { Value: { "Fn::GetAtt": ["Logs", "Arn"] } }, B: { Value: { "Fn::GetAtt": ["Logs", "Url"] } }, C: { Value: { Ref: "Nothing" } } },
    };
    expect(validateAgainstSpec(t)).toEqual([
      "Outputs.B.Value: AWS::Logs::LogGroup has no attribute Url (known: Arn)",
      "Outputs.C.Value: Ref to unknown Nothing",
    ]);
  });

  it("leaves custom resources' properties alone, except the ServiceToken", () => {
    expect(validateAgainstSpec(template({ ServiceToken: "arn", Anything: [1] }, "Custom::Thing"))).toEqual([]);
    expect(validateAgainstSpec(template({ Anything: 1 }, "AWS::CloudFormation::CustomResource"))).toEqual([
      "Logs (AWS::CloudFormation::CustomResource).ServiceToken: required property missing",
    ]);
  });
});
