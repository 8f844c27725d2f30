#!/usr/bin/env node
// Validates Kubernetes manifests as an API server with strict field validation would accept
// them: every object's types, required fields and formats against the Kubernetes OpenAPI schema
// (kubernetes-models' validators), and every field name against the API's own type map
// (@kubernetes/client-node's generated models), so a misspelled field fails instead of being
// dropped. KServe's InferenceService has no published JSON schema package: its predictor is a
// pod spec plus KServe's own fields (v1beta1 PredictorExtensionSpec / ComponentExtensionSpec),
// so the pod-spec part is validated as a PodSpec and the rest against the field list below.
//
// A kustomization.yaml (or a directory holding one) stands for the files its `resources` list,
// expanded recursively; only `resources` is accepted there, so that expansion is exactly what
// `kubectl apply -k` would apply.
//
// Usage: validate-k8s.mjs FILE|DIR...   (exit 1 with one line per problem)
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseAllDocuments } from "yaml";
import * as api from "@kubernetes/client-node";
import { validate as validateDeployment } from "kubernetes-models/_schemas/IoK8sApiAppsV1Deployment";
import { validate as validateService } from "kubernetes-models/_schemas/IoK8sApiCoreV1Service";
import { validate as validatePvc } from "kubernetes-models/_schemas/IoK8sApiCoreV1PersistentVolumeClaim";
import { validate as validateStatefulSet } from "kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet";
import { validate as validateSecret } from "kubernetes-models/_schemas/IoK8sApiCoreV1Secret";
import { validate as validatePdb } from "kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget";
import { validate as validatePodSpec } from "kubernetes-models/_schemas/IoK8sApiCoreV1PodSpec";
import { validate as validateObjectMeta } from "@kubernetes-models/apimachinery/_schemas/IoK8sApimachineryPkgApisMetaV1ObjectMeta";

// Fields KServe v1beta1 adds to a component spec next to the pod spec (kserve
// pkg/apis/serving/v1beta1/component.go, predictor.go).
const KSERVE_COMPONENT_FIELDS = new Set([
  "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType", "containerConcurrency", "timeout",
  "canaryTrafficPercent", "logger", "batcher", "labels", "annotations", "deploymentStrategy", "autoScaling",
  "model", "workerSpec",
]);

const KINDS = {
  "apps/v1/Deployment": { validate: validateDeployment, type: "V1Deployment" },
  "v1/Service": { validate: validateService, type: "V1Service" },
  "v1/PersistentVolumeClaim": { validate: validatePvc, type: "V1PersistentVolumeClaim" },
  "apps/v1/StatefulSet": { validate: validateStatefulSet, type: "V1StatefulSet" },
  "v1/Secret": { validate: validateSecret, type: "V1Secret" },
  "policy/v1/PodDisruptionBudget": { validate: validatePdb, type: "V1PodDisruptionBudget" },
};

// The manifest files `path` stands for: itself, or the resources of a kustomization.
function expand(path, problems, seen = new Set()) {
  if (existsSync(path) && statSync(path).isDirectory()) path = join(path, "kustomization.yaml");
  if (!path.endsWith("kustomization.yaml")) return [path];
  if (seen.has(path)) {
    problems.push(`${path}: included twice`);
    return [];
  }
  seen.add(path);
  if (!existsSync(path)) {
    problems.push(`${path}: missing`);
    return [];
  }
  const k = parseAllDocuments(readFileSync(path, "utf8"))[0]?.toJS() ?? {};
  for (const key of Object.keys(k))
    if (!["apiVersion", "kind", "resources"].includes(key)) problems.push(`${path}: "${key}" is not supported here (resources only)`);
  if (k.kind !== "Kustomization") problems.push(`${path}: kind must be Kustomization`);
  const files = [];
  for (const r of k.resources ?? []) {
    const target = join(dirname(path), r);
    if (!existsSync(target)) problems.push(`${path}: resource ${r} does not exist`);
    else files.push(...expand(target, problems, seen));
  }
  return files;
}

// Walks `value` against client-node's attribute type map of `type`; reports unknown fields.
function unknownFields(value, type, path, problems) {
  if (value === null || value === undefined) return;
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, m[1], `${path}[${i}]`, problems));
    return;
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) unknownFields(v, m[1], `${path}.${k}`, problems);
    return;
  }
  const cls = api[type];
  if (!cls || typeof cls.getAttributeTypeMap !== "function" || typeof value !== "object") return;
  const fields = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) problems.push(`${path}: unknown field "${k}" (not in ${type})`);
    else unknownFields(v, fields.get(k), `${path}.${k}`, problems);
  }
}

function schemaErrors(validate, value, path, problems) {
  if (!validate(value)) for (const e of validate.errors) problems.push(`${path}${e.instancePath}: ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
}

function checkInferenceService(doc, where, problems) {
  for (const k of Object.keys(doc)) if (!["apiVersion", "kind", "metadata", "spec", "status"].includes(k)) problems.push(`${where}: unknown field "${k}"`);
  schemaErrors(validateObjectMeta, doc.metadata ?? {}, `${where}.metadata`, problems);
  unknownFields(doc.metadata, "V1ObjectMeta", `${where}.metadata`, problems);
  const spec = doc.spec ?? {};
  for (const k of Object.keys(spec)) if (!["predictor", "transformer", "explainer"].includes(k)) problems.push(`${where}.spec: unknown field "${k}"`);
  if (!spec.predictor || typeof spec.predictor !== "object") {
    problems.push(`${where}.spec.predictor: required`);
    return;
  }
  const pod = {};
  for (const [k, v] of Object.entries(spec.predictor)) if (!KSERVE_COMPONENT_FIELDS.has(k)) pod[k] = v;
  if (!Array.isArray(pod.containers) || pod.containers.length === 0) problems.push(`${where}.spec.predictor.containers: required`);
  schemaErrors(validatePodSpec, pod, `${where}.spec.predictor`, problems);
  unknownFields(pod, "V1PodSpec", `${where}.spec.predictor`, problems);
  const protocol = (pod.containers?.[0]?.env ?? []).find((e) => e.name === "PROTOCOL");
  if (protocol && !["v1", "v2"].includes(protocol.value)) problems.push(`${where}: PROTOCOL must be v1 or v2 (KServe custom predictor)`);
}

let problems = [];
let objects = 0;
const names = new Set();
for (const file of process.argv.slice(2).flatMap((a) => expand(a, problems))) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  docs.forEach((d, i) => {
    const where = `${file}#${i}`;
    if (d.errors.length) {
      problems.push(`${where}: YAML: ${d.errors[0].message}`);
      return;
    }
    const doc = d.toJS();
    if (doc === null) return;
    objects++;
    const key = `${doc.apiVersion}/${doc.kind}`;
    if (key === "serving.kserve.io/v1beta1/InferenceService") {
      checkInferenceService(doc, where, problems);
      return;
    }
    const id = `${key}/${doc.metadata?.name}`;
    if (names.has(id)) problems.push(`${where}: a second ${id}`);
    names.add(id);
    const kind = KINDS[key];
    if (!kind) {
      problems.push(`${where}: no schema here for ${key}`);
      return;
    }
    schemaErrors(kind.validate, doc, where, problems);
    unknownFields(doc, kind.type, where, problems);
  });
}
for (const p of problems) console.log(p);
if (objects === 0) console.log("no Kubernetes objects found");
process.exit(problems.length || objects === 0 ? 1 : 0);
