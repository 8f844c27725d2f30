// The schema, as two append-only lists of migrations, one per backend, kept in step: migration i
// moves the schema from version i to i+1 on both, so a version number names the same tables and
// columns whichever engine holds them. Never edit a released migration: add a new one to both.
#pragma once

#include <iterator>
#include <string>

#include "core/base/error.h"

namespace aifgen::storage {

// SQLite: the version is PRAGMA user_version.
inline const char* const kSqliteMigrations[] = {
    // 1: models, jobs, variants.
    R"sql(
CREATE TABLE models (
  id          TEXT PRIMARY KEY,            -- sha256 of the ONNX bytes
  name        TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL,
  info_json   TEXT NOT NULL,               -- core::ModelInfo as JSON
  created_at  TEXT NOT NULL
);
CREATE TABLE jobs (
  id               TEXT PRIMARY KEY,
  model_id         TEXT NOT NULL REFERENCES models(id),
  state            TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
  stage            TEXT NOT NULL,
  progress         REAL NOT NULL DEFAULT 0,
  attempts         INTEGER NOT NULL DEFAULT 0,
  error            TEXT,
  options_json     TEXT NOT NULL DEFAULT '{}',
  idempotency_key  TEXT UNIQUE,
  request_hash     TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  version          INTEGER NOT NULL DEFAULT 1,  -- bumped on every change: the ETag
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  started_at       TEXT,
  finished_at      TEXT
);
CREATE INDEX jobs_by_state ON jobs(state, created_at);
CREATE INDEX jobs_by_model ON jobs(model_id);
CREATE TABLE variants (
  id               TEXT PRIMARY KEY,
  job_id           TEXT NOT NULL REFERENCES jobs(id),
  model_id         TEXT NOT NULL REFERENCES models(id),
  target           TEXT NOT NULL,
  precision        TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
  error            TEXT,
  artifact_sha256  TEXT,
  artifact_size    INTEGER,
  report_json      TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL
);
CREATE INDEX variants_by_job ON variants(job_id);
CREATE INDEX variants_by_model ON variants(model_id);
)sql",
    // 2: latency measurements of variants (and of their source model, for before/after).
    R"sql(
CREATE TABLE benchmarks (
  id                INTEGER PRIMARY KEY,
  variant_id        TEXT NOT NULL REFERENCES variants(id),
  subject           TEXT NOT NULL CHECK (subject IN ('source','variant')),
  origin            TEXT NOT NULL DEFAULT 'local',   -- 'local' (the service host) or 'field'
  host              TEXT NOT NULL,
  threads           INTEGER NOT NULL,
  batch             INTEGER NOT NULL,
  iterations        INTEGER NOT NULL,
  p50_ms            REAL NOT NULL,
  p90_ms            REAL NOT NULL,
  p99_ms            REAL NOT NULL,
  throughput_per_s  REAL NOT NULL,
  created_at        TEXT NOT NULL
);
CREATE INDEX benchmarks_by_variant ON benchmarks(variant_id);
)sql",
    // 3: API keys; only the SHA-256 of a key is stored.
    R"sql(
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,               -- the public part of the key, shown in listings
  name        TEXT NOT NULL,
  scope       TEXT NOT NULL CHECK (scope IN ('read','write','admin')),
  key_sha256  TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  revoked_at  TEXT
);
)sql",
    // 4: calibration sets uploaded for a model (the bytes live in the artifact store).
    R"sql(
CREATE TABLE calibration_sets (
  id          TEXT PRIMARY KEY,
  model_id    TEXT NOT NULL REFERENCES models(id),
  sha256      TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL,
  file_name   TEXT NOT NULL,
  inputs_json TEXT NOT NULL,                  -- [{name, dtype, shape}]
  samples     INTEGER NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX calibration_by_model ON calibration_sets(model_id, created_at);
)sql",
    // 5: a built variant's validation verdict, readable without parsing its report.
    R"sql(
ALTER TABLE variants ADD COLUMN validation TEXT;   -- validated | degraded | skipped
)sql",
    // 6: field reports: how many requests were in flight, and the reporter's hardware.
    R"sql(
ALTER TABLE benchmarks ADD COLUMN concurrency INTEGER NOT NULL DEFAULT 1;
ALTER TABLE benchmarks ADD COLUMN hardware_json TEXT;
)sql",
    // 7: the on-demand route looks up one model's variants of one target/precision.
    R"sql(
CREATE INDEX variants_by_model_target ON variants(model_id, target, precision, created_at);
)sql",
    // 8: job leases: which worker runs a job, and until when (ms since the Unix epoch) unless it
    // renews. A running job whose lease has passed belongs to a worker that died.
    R"sql(
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_ms INTEGER;
)sql",
    // 9: nothing on SQLite. (PostgreSQL announces job changes to other processes; one process
    // owns a SQLite database and announces them in memory.)
    R"sql(
SELECT 1;
)sql",
};

// PostgreSQL: the version is the highest row of schema_migrations. The same tables, in its types:
// sizes are BIGINT, fractions DOUBLE PRECISION, and the tables the code orders by insertion get
// an identity column named rowid, which SQLite has implicitly, so one SQL text serves both.
inline const char* const kPostgresMigrations[] = {
    // 1: models, jobs, variants.
    R"sql(
CREATE TABLE models (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  size_bytes  BIGINT NOT NULL,
  info_json   TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE TABLE jobs (
  rowid            BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  id               TEXT PRIMARY KEY,
  model_id         TEXT NOT NULL REFERENCES models(id),
  state            TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
  stage            TEXT NOT NULL,
  progress         DOUBLE PRECISION NOT NULL DEFAULT 0,
  attempts         BIGINT NOT NULL DEFAULT 0,
  error            TEXT,
  options_json     TEXT NOT NULL DEFAULT '{}',
  idempotency_key  TEXT UNIQUE,
  request_hash     TEXT,
  cancel_requested BIGINT NOT NULL DEFAULT 0,
  version          BIGINT NOT NULL DEFAULT 1,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  started_at       TEXT,
  finished_at      TEXT
);
CREATE INDEX jobs_by_state ON jobs(state, created_at);
CREATE INDEX jobs_by_model ON jobs(model_id);
CREATE TABLE variants (
  rowid            BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  id               TEXT PRIMARY KEY,
  job_id           TEXT NOT NULL REFERENCES jobs(id),
  model_id         TEXT NOT NULL REFERENCES models(id),
  target           TEXT NOT NULL,
  precision        TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
  error            TEXT,
  artifact_sha256  TEXT,
  artifact_size    BIGINT,
  report_json      TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL
);
CREATE INDEX variants_by_job ON variants(job_id);
CREATE INDEX variants_by_model ON variants(model_id);
)sql",
    // 2: latency measurements.
    R"sql(
CREATE TABLE benchmarks (
  id                BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  variant_id        TEXT NOT NULL REFERENCES variants(id),
  subject           TEXT NOT NULL CHECK (subject IN ('source','variant')),
  origin            TEXT NOT NULL DEFAULT 'local',
  host              TEXT NOT NULL,
  threads           BIGINT NOT NULL,
  batch             BIGINT NOT NULL,
  iterations        BIGINT NOT NULL,
  p50_ms            DOUBLE PRECISION NOT NULL,
  p90_ms            DOUBLE PRECISION NOT NULL,
  p99_ms            DOUBLE PRECISION NOT NULL,
  throughput_per_s  DOUBLE PRECISION NOT NULL,
  created_at        TEXT NOT NULL
);
CREATE INDEX benchmarks_by_variant ON benchmarks(variant_id);
)sql",
    // 3: API keys.
    R"sql(
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  scope       TEXT NOT NULL CHECK (scope IN ('read','write','admin')),
  key_sha256  TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  revoked_at  TEXT
);
)sql",
    // 4: calibration sets.
    R"sql(
CREATE TABLE calibration_sets (
  rowid       BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  id          TEXT PRIMARY KEY,
  model_id    TEXT NOT NULL REFERENCES models(id),
  sha256      TEXT NOT NULL,
  size_bytes  BIGINT NOT NULL,
  file_name   TEXT NOT NULL,
  inputs_json TEXT NOT NULL,
  samples     BIGINT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX calibration_by_model ON calibration_sets(model_id, created_at);
)sql",
    // 5: validation verdict.
    R"sql(
ALTER TABLE variants ADD COLUMN validation TEXT;
)sql",
    // 6: field report context.
    R"sql(
ALTER TABLE benchmarks ADD COLUMN concurrency BIGINT NOT NULL DEFAULT 1;
ALTER TABLE benchmarks ADD COLUMN hardware_json TEXT;
)sql",
    // 7: the on-demand route's lookup.
    R"sql(
CREATE INDEX variants_by_model_target ON variants(model_id, target, precision, created_at);
)sql",
    // 8: job leases.
    R"sql(
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_ms BIGINT;
)sql",
    // 9: every new job and every change to a job (a new version; lease renewals are not changes)
    // is announced on channel aifgen_job_changes with the job's id, delivered at commit to every
    // process listening: long polls and idle workers on other replicas wake at once.
    R"sql(
CREATE FUNCTION aifgen_announce_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('aifgen_job_changes', NEW.id);
  RETURN NULL;
END;
$$;
CREATE TRIGGER jobs_announce_insert AFTER INSERT ON jobs
  FOR EACH ROW EXECUTE FUNCTION aifgen_announce_job_change();
CREATE TRIGGER jobs_announce_update AFTER UPDATE ON jobs
  FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION aifgen_announce_job_change();
)sql",
};

static_assert(std::size(kSqliteMigrations) == std::size(kPostgresMigrations),
              "every migration is written for both backends");
inline constexpr int kLatestSchemaVersion = static_cast<int>(std::size(kSqliteMigrations));

// A database migrated by a newer aifgen is left alone: its schema may mean things this one
// would get wrong.
inline void refuse_newer_schema(int version) {
  if (version > kLatestSchemaVersion)
    throw Error(ErrorCode::kIo, "schema-too-new",
                "database schema v" + std::to_string(version) + " is newer than this aifgen (v" +
                    std::to_string(kLatestSchemaVersion) + "); refusing to touch it");
}

}  // namespace aifgen::storage
