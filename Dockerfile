# aifgen service image: build stage compiles the binary, runtime stage carries only the
# shared libraries it links against. Debian 12 on both sides, so the packages match the ones
# scripts/setup.sh installs for local builds.
#
#   docker build -t aifgen:0.1.0 .
#   docker run --rm -v aifgen-data:/var/lib/aifgen aifgen:0.1.0 keys create --name admin --scope admin
#   docker run -p 8080:8080 -v aifgen-data:/var/lib/aifgen aifgen:0.1.0
# (Without an API key the service only listens on the container's loopback.)
#
# The same file builds the runtime image for arm64 hosts (the arm64-cpu bundles' --runtime-image):
# every stage is Debian 12 and every package exists for arm64, so a multi-arch build is
#   docker buildx build --platform linux/amd64,linux/arm64 -t registry.example/aifgen:0.1.0 --push .
# (an amd64 builder compiles the arm64 stage under QEMU emulation: slow, but the same packages).

FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
# Only the build dependencies (the npm test tools are not needed to build).
RUN ./scripts/setup.sh
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAIFGEN_BUILD_TESTS=OFF \
 && cmake --build build -j"$(nproc)" \
 && strip build/aifgen

FROM debian:12-slim AS runtime
# Runtime libraries only (the -dev packages of the build stage pull these in there).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpprest2.10 libonnx1 libprotobuf32 libsqlite3-0 libpqxx-6.4 libspdlog1.10 libfmt9 libssl3 \
      libarchive13 libdeflate0 libdnnl2 libgomp1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/aifgen --create-home aifgen
COPY --from=build /src/build/aifgen /usr/local/bin/aifgen
USER aifgen
# Listen on all interfaces inside the container; the data dir is a volume so jobs, models and
# bundles survive container restarts.
ENV AIFGEN_LISTEN=0.0.0.0:8080 \
    AIFGEN_DATA_DIR=/var/lib/aifgen \
    OMP_WAIT_POLICY=passive
VOLUME /var/lib/aifgen
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/aifgen"]
CMD ["serve"]
