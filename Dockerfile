# The ecs-operator image: built with the Rust toolchain image, run on distroless (glibc, CA
# certificates, a nonroot user, no shell or package manager).
#   docker build -t ecs-operator:0.1.0 .
#
# Both base images are pinned by the digest of their multi-platform index, so that a re-pushed
# tag cannot change what is built. To bump one, resolve the tag's current digest, e.g.
#   docker buildx imagetools inspect rust:1.95.0-bookworm       (or: crane digest <image>)
# and replace both the tag and the digest here (the tag stays for the reader; the digest
# decides). The builder's Rust must be at least Cargo.toml's rust-version.

FROM rust:1.95.0-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS builder
WORKDIR /src

# cargo-auditable embeds the dependency list (Cargo.lock's crates and versions) into the
# binary, so that scanners (cargo audit bin, Trivy, Grype, Syft) can check the shipped image.
RUN cargo install cargo-auditable --version 0.7.7 --locked

# Build the dependencies alone first, against placeholder sources, so that this layer is
# reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo auditable build --release --locked \
    && rm -rf src

# Then the operator itself. touch: the sources copied in may be older than the placeholders.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo auditable build --release --locked \
    && install -D -m 0755 target/release/ecs-operator /out/ecs-operator

# distroless/cc: glibc and libgcc for the Rust binary, and /etc/ssl/certs/ca-certificates.crt
# for TLS to the AWS and Kubernetes APIs. The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
LABEL org.opencontainers.image.title="ecs-operator" \
      org.opencontainers.image.description="Run Amazon ECS from Kubernetes custom resources" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=builder /out/ecs-operator /usr/local/bin/ecs-operator
USER 65532:65532
# 8443: /metrics over HTTPS (bearer token checked with the apiserver); 8081: /healthz, /readyz.
EXPOSE 8443 8081
ENTRYPOINT ["/usr/local/bin/ecs-operator"]
CMD ["run"]
