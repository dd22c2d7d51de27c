# syntax=docker/dockerfile:1
# ami-refresh-controller: rolls EKS node groups onto the newest eligible AMI (AMIRefresher).
# Build from the repository root:
#   docker build -f docker/ami-refresh-controller.Dockerfile -t opsy/ami-refresh-controller .
# tests/docker/check_runtime_libs.sh checks this file: the runtime stage must install the Debian
# package of every shared library the binary loads (ldd), run as a numeric non-root user, and
# start the binary.

FROM debian:bookworm AS build
WORKDIR /src
# The bootstrap script alone first, so the package layer is cached across source changes.
COPY scripts/bootstrap scripts/bootstrap
RUN scripts/bootstrap && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake --preset release -DOPSY_BUILD_TESTS=OFF -DOPSY_BUILD_BENCH=OFF \
 && cmake --build --preset release --target ami-refresh-controller \
 && install -D -s -m 0755 build/release/ami-refresh-controller/ami-refresh-controller \
      /out/ami-refresh-controller

FROM debian:bookworm-slim
# Every package here provides a library the binary loads, directly or through another library
# (libcurl4 brings the TLS, HTTP/2, Kerberos and LDAP ones); the check compares this list with
# ldd, so it names the whole closure rather than relying on apt's dependency resolution.
# ca-certificates and tzdata are data, not libraries: the TLS roots, and the IANA time zones that
# maintenance windows name (without tzdata only "UTC" would load).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates tzdata \
      libc6 libgcc-s1 libstdc++6 \
      libcurl4 libssl3 libyaml-cpp0.7 libfmt9 libspdlog1.10 libprometheus-cpp-core1.0 \
      libpugixml1v5 libcpp-httplib0.11 libcctz2 \
      libbrotli1 libcom-err2 libffi8 libgmp10 libgnutls30 libgssapi-krb5-2 libhogweed6 \
      libidn2-0 libk5crypto3 libkeyutils1 libkrb5-3 libkrb5support0 libldap-2.5-0 libnettle8 \
      libnghttp2-14 libp11-kit0 libpsl5 librtmp1 libsasl2-2 libssh2-1 libtasn1-6 \
      libunistring2 libzstd1 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 65532 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin opsy
COPY --from=build /out/ami-refresh-controller /usr/local/bin/ami-refresh-controller
# Numeric, so Kubernetes can enforce runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# Metrics (/metrics) and probes (/healthz, /readyz); see docs/controller-flags.md.
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/ami-refresh-controller"]
