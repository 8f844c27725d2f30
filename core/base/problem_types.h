// Every problem type slug the code raises, with the HTTP status it answers and what it means.
//
// One table: a slug names one kind of failure and answers one status wherever it is raised.
// api/rest/problem.cpp takes the status from here; openapi.yaml lists the same slugs under
// Problem.type's x-problem-types, and tests/unit/problem_types_test.cpp fails when the code
// raises a slug this table lacks, raises one with another ErrorCode's status, or openapi.yaml
// and this table differ. Slugs marked "command line" are never sent over HTTP.
#pragma once

#include <string_view>

namespace aifgen {

struct ProblemType {
  std::string_view slug;
  int status;  // HTTP status of a response with this type (the CLI exits non-zero instead)
  std::string_view meaning;
};

inline constexpr ProblemType kProblemTypes[] = {
    // Requests: body, headers, parameters
    {"empty-body", 400, "the request or upload has no body"},
    {"body-incomplete", 400, "the request body ended before its declared length"},
    {"body-too-large", 413, "a JSON body is over the service's limit"},
    {"malformed-json", 400, "the body is not valid JSON"},
    {"unknown-field", 400, "a JSON object has a field the API does not define (allowed lists the known ones)"},
    {"invalid-field", 400, "a JSON field has a value of the wrong type or out of range"},
    {"invalid-name", 400, "a model name is empty, too long or not valid UTF-8"},
    {"invalid-header", 400, "a request header has a malformed value"},
    {"invalid-parameter", 400, "a query parameter has a value the route does not accept"},
    {"invalid-uri", 400, "the request URI cannot be parsed"},
    {"invalid-scope", 400, "an API key scope other than read, write or admin"},
    {"unsupported-media-type", 415, "an upload is neither application/octet-stream nor multipart/form-data"},
    {"multipart-malformed", 400, "a multipart/form-data body breaks the format or repeats the file field"},
    {"missing-model-field", 400, "a multipart model upload has no 'model' field"},
    {"missing-file-field", 400, "a multipart calibration upload has no 'file' field"},
    {"upload-too-large", 413, "an upload is over the configured size limit"},
    {"route-not-found", 404, "no route has this path"},
    {"asset-not-found", 404, "no dashboard file has this name under /assets/"},
    {"method-not-allowed", 405, "the route exists but not with this method"},
    {"range-not-satisfiable", 416, "a Range header asks for bytes past the end of the bundle"},
    // Access
    {"unauthorized", 401, "no API key, or one that is unknown or revoked"},
    {"insufficient-scope", 403, "the API key's scope does not allow this (e.g. starting a build needs write)"},
    {"link-invalid", 403, "a download link's signature or expiry is missing or wrong"},
    {"link-expired", 403, "a download link is past its expiry"},
    {"rate-limited", 429, "this key or client sent too many requests; retry after Retry-After"},
    // Models
    {"model-empty", 422, "the uploaded bytes are empty"},
    {"model-parse-failed", 422, "the bytes are not a protobuf ModelProto (truncated or another format)"},
    {"not-an-onnx-model", 422, "a protobuf message, but not an ONNX model (no graph or no opset)"},
    {"model-too-complex", 422, "the model is over a structural limit (nodes, subgraph depth, declared elements)"},
    {"model-external-data", 422, "a tensor refers to external data; upload self-contained models"},
    {"model-checker-failed", 422, "the ONNX checker rejects the model"},
    {"model-invalid-node", 422, "a node is malformed (unknown op for its opset, bad attribute)"},
    {"model-invalid-shape", 422, "a declared shape has a negative or absurd dimension"},
    {"model-shape-inference-failed", 422, "ONNX shape inference fails on the model"},
    {"model-too-large", 413, "the model file is over the size limit"},
    {"model-not-found", 404, "no model has this id"},
    {"model-has-active-jobs", 409, "the model cannot be deleted while jobs for it are queued or running"},
    {"too-many-uploads", 503, "the service is already receiving its maximum of concurrent uploads"},
    {"tensor-dtype", 422, "a model tensor has a data type the operation does not accept"},
    {"tensor-shape", 422, "a model tensor has inconsistent dims"},
    {"tensor-size", 422, "a model tensor's data does not match its dims"},
    // Calibration sets
    {"calibration-invalid", 400, "a calibration archive or .npz is malformed"},
    {"calibration-too-large", 413, "a calibration set decompresses past its limits"},
    {"calibration-mismatch", 422, "the calibration samples do not fit the model's inputs"},
    {"calibration-not-found", 422, "the job names a calibration set the model does not have"},
    // Jobs and variants
    {"no-variants-requested", 400, "a job request names no target/precision"},
    {"unsupported-target-precision", 422, "a requested target/precision is not offered (allowed lists those that are)"},
    {"target-cannot-run-model", 422, "a requested target cannot run the model's ops"},
    {"target-unsupported-type", 422, "a target's runtime cannot take one of the model's tensor types"},
    {"target-unsupported-shape", 422, "a target needs an input rank or shape the model does not declare"},
    {"invalid-shape-profile", 422, "a job's shape profile does not fit the model's inputs"},
    {"unknown-target", 422, "a stored job names a target this build does not have"},
    {"unknown-pass", 400, "a job's pass list names a pass that does not exist"},
    {"bad-pass-option", 400, "a pass option is unknown or out of range (allowed lists valid values)"},
    {"idempotency-key-reused", 409, "an Idempotency-Key was used before with a different request"},
    {"queue-full", 503, "the job queue is at its limit; retry later"},
    {"job-not-found", 404, "no job has this id"},
    {"job-already-finished", 409, "the job already ended, so it cannot be cancelled"},
    {"variant-not-found", 404, "no variant has this id"},
    {"variant-not-ready", 409, "the variant is still queued or running"},
    {"variant-not-built", 409, "the variant failed or was cancelled, so there is nothing to download"},
    {"variant-failed", 422, "the latest build of this target/precision failed; ask again with retry"},
    {"too-many-long-polls", 503, "the service holds its maximum of waiting requests"},
    // Failures of a build (recorded on the job and variant)
    {"accuracy-budget-unmet", 422, "no INT8/float mix meets the job's accuracy budget"},
    {"validation-failed", 422, "the variant's outputs differ from the source model's beyond the thresholds"},
    {"validation-mismatch", 500, "a variant's outputs do not correspond to the source's (a bug)"},
    {"validation-unsupported", 422, "the model has outputs validation cannot compare yet: not float32, or of a length that depends on values with no [N, 4] boxes output to pair them by"},
    {"stage-timed-out", 422, "a build stage ran past its time limit"},
    {"opset-upgrade-failed", 422, "the model could not be converted to the opset a pass needs"},
    {"fp16-conversion-invalid", 500, "the fp16 model fails type inference (a bug)"},
    {"pass-produced-invalid-model", 500, "a pass produced a model the ONNX checker rejects (a bug)"},
    {"aifgen-op-invalid", 422, "a node of aifgen's own operator domain is malformed"},
    {"no-held-out-samples", 500, "the accuracy budget ran without held-out samples (a bug)"},
    {"unsafe-bundle-path", 500, "a bundle entry name would escape the bundle (a bug)"},
    // The CPU engine
    {"engine-unsupported", 422, "the CPU engine cannot run a node (op, attribute or type)"},
    {"engine-unsupported-dtype", 422, "the CPU engine does not execute tensors of this ONNX type"},
    {"engine-invalid-graph", 422, "the graph reads values before they are produced or is otherwise not runnable"},
    {"engine-invalid-node", 422, "a node's inputs or attributes are invalid for its op"},
    {"engine-bad-input", 400, "an input tensor given to the engine does not fit the model"},
    {"engine-bad-shape", 400, "an input shape does not fit the model's declared shape"},
    {"engine-out-of-memory", 422, "a tensor's size overflows or exceeds what the engine allocates"},
    // Storage and the service
    {"storage-error", 500, "the service's database or artifact store failed (one slug whatever the layer)"},
    {"storage-full", 507, "the disk under the data dir is full or over quota"},
    {"storage-read-failed", 500, "a stored file could not be read back"},
    {"artifact-corrupt", 500, "a stored blob is missing or no longer matches its digest"},
    {"schema-too-new", 500, "the database was written by a newer aifgen"},
    {"storage-unavailable", 503, "the database server cannot be reached (PostgreSQL); retry later"},
    {"storage-contention", 503, "a write kept losing races with other processes' writes; retry later"},
    {"lease-lost", 409, "worker: another worker took over the job after this one's lease expired (never sent over HTTP)"},
    {"constraint", 409, "a database constraint refused the write"},
    {"bad-digest", 400, "a value that should be a sha256 digest is not one"},
    {"shutting-down", 503, "the service is stopping"},
    {"not-ready", 503, "the service is not ready to serve"},
    {"internal", 500, "an unexpected error; the detail hides internals, the log has them"},
    // Command line and start-up (never sent over HTTP)
    {"invalid-argument", 400, "command line: a flag's value is malformed"},
    {"invalid-config", 400, "command line: conflicting or invalid server settings"},
    {"invalid-link-secret", 400, "command line: --link-secret is shorter than 64 hex digits"},
    {"link-secret-corrupt", 500, "start-up: the data dir's link-secret file does not hold a valid secret"},
    {"random-failed", 500, "start-up: no randomness for the link secret"},
    {"data-dir-in-use", 503, "start-up: another aifgen serve holds the data dir"},
    {"listen-failed", 503, "start-up: the listen address cannot be bound"},
    {"missing-input", 400, "command line: a model input has no --input"},
    {"npy-invalid", 400, "command line: a .npy file is malformed"},
    {"file-not-found", 404, "command line: a named file does not exist"},
    {"not-a-file", 400, "command line: a named path is not a regular file"},
    {"io-error", 500, "command line: a local file could not be read or written"},
    {"bundle-invalid", 400, "infer-server: the bundle directory is not a CPU bundle"},
    {"infer-bad-request", 400, "infer-server: a KServe v2 request is malformed"},
    {"infer-bad-input", 400, "infer-server: a request's tensors do not fit the model"},
    {"infer-batch-mismatch", 500, "infer-server: an output lost the batch dimension (a bug)"},
    {"loadgen-bad-shape", 400, "loadgen: a --shape value is malformed"},
    {"loadgen-no-model", 400, "loadgen: the server does not serve the named model"},
    {"loadgen-report", 400, "loadgen: --report-to is missing what it needs"},
};

// The entry for `slug`; nullptr when the table has none.
constexpr const ProblemType* find_problem_type(std::string_view slug) {
  for (const auto& p : kProblemTypes)
    if (p.slug == slug) return &p;
  return nullptr;
}

}  // namespace aifgen
