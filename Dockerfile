# The ecs-operator image: built with the Rust toolchain image, run on distroless (glibc, CA
# certificates, a nonroot user, no shell or package manager).
#   docker build -t ecs-operator:0.1.0 .

FROM rust:1-bookworm AS builder
WORKDIR /src

# Build the dependencies alone first, against placeholder sources, so that this layer is
# reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# Then the operator itself. touch: the sources copied in may be older than the placeholders.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/ecs-operator /out/ecs-operator

# distroless/cc: glibc and libgcc for the Rust binary, and /etc/ssl/certs/ca-certificates.crt
# for TLS to the AWS and Kubernetes APIs. The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="ecs-operator" \
      org.opencontainers.image.description="Run Amazon ECS from Kubernetes custom resources" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=builder /out/ecs-operator /usr/local/bin/ecs-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/ecs-operator"]
CMD ["run"]
