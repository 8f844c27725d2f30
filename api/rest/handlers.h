// Route registration, one function per resource family. Handlers are thin: parse the request,
// call one service function, render the answer.
#pragma once

#include "api/rest/long_poll.h"
#include "api/rest/router.h"

namespace aifgen::api {

void add_model_routes(Router& r);
void add_job_routes(Router& r, LongPoller& poller);
void add_variant_routes(Router& r);
// /healthz, /readyz, /metrics: the only routes an `aifgen worker` serves.
void add_probe_routes(Router& r);
void add_operations_routes(Router& r);

}  // namespace aifgen::api
