import { loadAwsServiceSpecSync } from "@aws-cdk/aws-service-spec";
import type { Attribute, Property, PropertyType, Resource, TypeDefinition } from "@aws-cdk/service-spec-types";
import type { Template } from "aws-cdk-lib/assertions";
import { expect } from "vitest";

// An offline check of synthesized templates against the CloudFormation resource specification, as
// the npm package @aws-cdk/aws-service-spec ships it (the registry schemas CDK's L1 classes are
// generated from): a template CloudFormation would refuse at deploy time, after minutes of
// provisioning, fails a unit test instead. Checked, for every resource:
// - the type exists (custom resources excepted: their properties are free-form);
// - every property exists for that type, nested property types included;
// - required properties are present;
// - literal values have the right type (string, number, integer, boolean, list, map, object,
//   tag); a value that is an intrinsic function (Ref, Fn::GetAtt, Fn::Join, Fn::If, ...) is left to
//   CloudFormation, which resolves it at deploy time;
// - Fn::GetAtt names an attribute the target resource has, and Ref a resource, parameter or
//   pseudo parameter of the template.
// Loading the specification takes about a second; it is loaded once per test file.

type SpecDb = ReturnType<typeof loadAwsServiceSpecSync>;
let loaded: SpecDb | undefined;
const spec = (): SpecDb => (loaded ??= loadAwsServiceSpecSync());

interface TemplateJson {
  Parameters?: Record<string, unknown>;
  Conditions?: Record<string, unknown>;
  Resources?: Record<string, { Type?: string; Properties?: Record<string, unknown> }>;
  Outputs?: Record<string, unknown>;
}

const PSEUDO_PARAMETERS = new Set([
  "AWS::AccountId",
  "AWS::NotificationARNs",
  "AWS::NoValue",
  "AWS::Partition",
  "AWS::Region",
  "AWS::StackId",
  "AWS::StackName",
  "AWS::URLSuffix",
]);

const isCustomResource = (type: string) => type.startsWith("Custom::") || type === "AWS::CloudFormation::CustomResource";

/** An object that is one intrinsic function call ({ "Ref": … }, { "Fn::Join": … }, { "Condition": … }). */
function isIntrinsic(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === "Ref" || keys[0] === "Condition" || keys[0]!.startsWith("Fn::"));
}

function resourceSpec(type: string): Resource | undefined {
  const found = spec().lookup("resource", "cloudFormationType", "equals", type);
  return found.length > 0 ? found[0] : undefined;
}

function typeDefinition(type: PropertyType & { type: "ref" }): TypeDefinition {
  return spec().get("typeDefinition", type.reference.$ref as string) as TypeDefinition;
}

const describeType = (type: PropertyType): string => {
  switch (type.type) {
    case "array":
      return `list of ${describeType(type.element)}`;
    case "map":
      return `map of ${describeType(type.element)}`;
    case "union":
      return type.types.map(describeType).join(" | ");
    case "ref":
      return typeDefinition(type).name;
    default:
      return type.type;
  }
};

/** The problems of `value` against `type`, each prefixed by its path in the template. */
function checkValue(value: unknown, type: PropertyType, path: string): string[] {
  if (isIntrinsic(value)) return [];
  const wrong = (): string[] => [`${path}: ${JSON.stringify(value)?.slice(0, 80)} is not a ${describeType(type)}`];
  switch (type.type) {
    case "string":
    case "date-time":
      // CloudFormation takes a number or boolean where a string is expected (it converts them).
      return ["string", "number", "boolean"].includes(typeof value) ? [] : wrong();
    case "number":
      return typeof value === "number" || (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) ? [] : wrong();
    case "integer":
      return (typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^-?\d+$/.test(value)) ? [] : wrong();
    case "boolean":
      return typeof value === "boolean" || value === "true" || value === "false" ? [] : wrong();
    case "json":
      return value !== null && (typeof value === "object" || typeof value === "string") ? [] : wrong();
    case "null":
      return value === null ? [] : wrong();
    case "tag": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return wrong();
      const tag = value as Record<string, unknown>;
      const problems = Object.keys(tag).filter((k) => k !== "Key" && k !== "Value").map((k) => `${path}.${k}: a tag has Key and Value only`);
      if (!("Key" in tag)) problems.push(`${path}: a tag needs a Key`);
      return problems;
    }
    case "array":
      if (!Array.isArray(value)) return wrong();
      return value.flatMap((element, i) => checkValue(element, type.element, `${path}[${i}]`));
    case "map":
      if (value === null || typeof value !== "object" || Array.isArray(value)) return wrong();
      return Object.entries(value).flatMap(([k, v]) => checkValue(v, type.element, `${path}.${k}`));
    case "union":
      // Valid when one member accepts it; otherwise report against the closest member (fewest problems).
      return type.types.map((member) => checkValue(value, member, path)).reduce((best, p) => (p.length < best.length ? p : best));
    case "ref": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return wrong();
      return checkProperties(value as Record<string, unknown>, typeDefinition(type).properties, path);
    }
    default:
      return [];
  }
}

/** A property's value against its current type, or one of its previous ones (CloudFormation stays compatible). */
function checkProperty(value: unknown, property: Property, path: string): string[] {
  const problems = checkValue(value, property.type, path);
  if (problems.length === 0) return [];
  return (property.previousTypes ?? []).some((t) => checkValue(value, t, path).length === 0) ? [] : problems;
}

function checkProperties(values: Record<string, unknown>, properties: Record<string, Property>, path: string): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    const property = properties[name];
    if (!property) {
      problems.push(`${path}.${name}: no such property (known: ${Object.keys(properties).sort().join(", ")})`);
      continue;
    }
    problems.push(...checkProperty(value, property, `${path}.${name}`));
  }
  for (const [name, property] of Object.entries(properties)) {
    if (property.required && !(name in values)) problems.push(`${path}.${name}: required property missing`);
  }
  return problems;
}

/** Every Ref and Fn::GetAtt in `node`, checked against the template's resources and parameters. */
function checkReferences(node: unknown, template: TemplateJson, path: string, problems: string[]): void {
  if (Array.isArray(node)) {
    node.forEach((n, i) => checkReferences(n, template, `${path}[${i}]`, problems));
    return;
  }
  if (node === null || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node)) {
    if (key === "Ref" && typeof value === "string") {
      if (!PSEUDO_PARAMETERS.has(value) && !template.Resources?.[value] && !template.Parameters?.[value]) problems.push(`${path}: Ref to unknown ${value}`);
    } else if (key === "Fn::GetAtt") {
      const [target, attribute] = typeof value === "string" ? (value.split(/\.(.*)/s) as [string, string]) : (value as [string, unknown]);
      const resource = template.Resources?.[target];
      if (!resource) problems.push(`${path}: Fn::GetAtt of unknown resource ${target}`);
      else if (typeof attribute === "string" && resource.Type && !isCustomResource(resource.Type)) {
        const attributes: Record<string, Attribute> | undefined = resourceSpec(resource.Type)?.attributes;
        if (attributes && !(attribute in attributes)) {
          problems.push(`${path}: ${resource.Type} has no attribute ${attribute} (known: ${Object.keys(attributes).sort().join(", ")})`);
        }
      }
    }
    checkReferences(value, template, `${path}.${key}`, problems);
  }
}

/** The problems of a template against the CloudFormation resource specification; none when valid. */
export function validateAgainstSpec(template: Template | TemplateJson): string[] {
  const json: TemplateJson = "toJSON" in template && typeof template.toJSON === "function" ? (template.toJSON() as TemplateJson) : (template as TemplateJson);
  const problems: string[] = [];
  for (const [id, resource] of Object.entries(json.Resources ?? {})) {
    const type = resource.Type;
    if (typeof type !== "string") {
      problems.push(`${id}: no Type`);
      continue;
    }
    const properties = resource.Properties ?? {};
    if (isCustomResource(type)) {
      if (!("ServiceToken" in properties)) problems.push(`${id} (${type}).ServiceToken: required property missing`);
      continue;
    }
    const described = resourceSpec(type);
    if (!described) {
      problems.push(`${id}: no resource type ${type} in the CloudFormation specification`);
      continue;
    }
    problems.push(...checkProperties(properties, described.properties, `${id} (${type})`));
  }
  checkReferences(json.Resources, json, "Resources", problems);
  checkReferences(json.Outputs, json, "Outputs", problems);
  return problems;
}

/** Fails the test with every problem of the template, one per line. */
export function expectValidAgainstSpec(template: Template | TemplateJson): void {
  expect(validateAgainstSpec(template), "the template against the CloudFormation resource specification").toEqual([]);
}
