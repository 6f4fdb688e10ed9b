# glucoshare container image: a static binary on distroless, running as an
# unprivileged user, with its SQLite database on the /data volume.
#
#   docker build -t glucoshare .
#   docker run -d --name glucoshare -p 8080:8080 -v glucoshare-data:/data glucoshare
#   printf '%s\n' 'a long password' | docker exec -i glucoshare \
#       glucoshare account add --name sam@example.org --password-stdin
#
# See docs/operations.md (PostgreSQL, TLS, reverse proxies, backups).

# ---- build ----
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that they stay cached while the code changes.
COPY go.mod go.sum ./
RUN go mod download
# Only the sources: a glucoshare.db lying in the work tree holds health
# data and has no business in a build context layer.
COPY cmd ./cmd
COPY internal ./internal
COPY share ./share
# The build context has no .git, so the release, commit and date that
# `glucoshare version` and GET /version report come in as build arguments:
#   docker build --build-arg VERSION=1.4.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#       --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t glucoshare .
ARG VERSION=
ARG COMMIT=
ARG DATE=
# No cgo (the SQLite driver is pure Go), so the binary is static.
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags="-s -w -X github.com/glucoshare/glucoshare/internal/version.Version=${VERSION} -X github.com/glucoshare/glucoshare/internal/version.Commit=${COMMIT} -X github.com/glucoshare/glucoshare/internal/version.Date=${DATE}" \
    -o /out/glucoshare ./cmd/glucoshare \
    && mkdir -p /out/data

# ---- run ----
# distroless/static: CA certificates, tzdata and /etc/passwd with the
# "nonroot" user (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/glucoshare /usr/local/bin/glucoshare
# The volume's mount point, owned by the user, so that a new named volume
# starts out writable for it.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV GLUCOSHARE_DB=/data/glucoshare.db \
    GLUCOSHARE_ADDR=:8080 \
    GLUCOSHARE_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/glucoshare"]
CMD ["serve"]
