# syntax=docker/dockerfile:1
# One multi-stage Dockerfile for every process of the project. Targets:
#   realtime, notifications, file-processing, jobs, idme   the services' APIs (their workers run the
#                                                           same image with `node dist/worker.js`)
#   gateway                                                 the API gateway
#   migrate                                                 one-shot: applies prisma/migrations
# Each target is built for ONE workspace, named by the PACKAGE build argument (compose.yaml passes
# both), e.g.:
#   docker build --target realtime --build-arg PACKAGE=@nself/realtime -t nself/realtime:1.0.0 .
# Stages: turbo prune <PACKAGE> --docker → npm ci → turbo build → production dependencies only
# (npm prune --omit=dev) on the same Debian/glibc node base in every stage (sharp's prebuilt libvips
# is glibc), running as the unprivileged `node` user, with a curl-free node healthcheck. The node
# base image has no compilers; every install uses --ignore-scripts (all native parts used are
# prebuilt packages), so no build tools are needed in any stage. Build with BuildKit or
# `podman build --format docker` (OCI images drop HEALTHCHECK).

ARG NODE_IMAGE=docker.io/library/node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS base
ENV TURBO_TELEMETRY_DISABLED=1 \
    DO_NOT_TRACK=1 \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /app

# --- 1. prune: the package's workspace and the workspaces it depends on, manifests apart ----------
FROM base AS pruner
ARG TURBO_VERSION=2.11.11
RUN npm install --global --ignore-scripts "turbo@${TURBO_VERSION}"
COPY . .
ARG PACKAGE
# turbo 2.11's npm-lockfile pruning drops packages nested under a workspace (services/db's own
# prisma 7 next to the hoisted prisma 6), which `npm ci` then reports missing. The full lockfile is
# used instead: with the pruned package.json files `npm ci` installs only what the pruned workspaces
# need from it (extra entries are ignored).
RUN test -n "${PACKAGE}" || { echo 'build with --build-arg PACKAGE=@nself/<workspace>' >&2; exit 1; } \
 && turbo prune "${PACKAGE}" --docker --out-dir=/out \
 && cp package-lock.json /out/json/package-lock.json \
 && node infra/containers/lockfile-sanitize.mjs /out/json/package-lock.json \
 && mkdir -p /out/tools \
 && cp infra/containers/assemble-runtime.mjs infra/containers/healthcheck.mjs /out/tools/

# --- 2. install (cached while no manifest changes) and build -----------------------------------
FROM base AS builder
COPY --from=pruner /out/json/ ./
RUN --mount=type=cache,id=nself-npm,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund
COPY --from=pruner /out/full/ ./
# Root build config and what @nself/db's `prisma generate` reads; not workspace files, so turbo
# prune does not carry them.
COPY tsconfig.base.json ./
COPY prisma/schema/ prisma/schema/
COPY prisma/bin/no-native-engine prisma/bin/no-native-engine
COPY --from=pruner /out/tools/ /tools/
ARG PACKAGE
RUN npx turbo run build --filter="${PACKAGE}" --output-logs=errors-only \
 && node /tools/assemble-runtime.mjs "${PACKAGE}" /runtime

# --- 3. runtime: build output + production dependencies, read-only for the `node` user ----------
FROM base AS runtime
ENV NODE_ENV=production
COPY --from=builder /runtime/ ./
COPY --from=builder /tools/healthcheck.mjs /usr/local/lib/nself/healthcheck.mjs
USER node

FROM runtime AS realtime
RUN test -f services/realtime/dist/main.js || { echo 'target realtime needs --build-arg PACKAGE=@nself/realtime' >&2; exit 1; }
WORKDIR /app/services/realtime
EXPOSE 3101
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/nself/healthcheck.mjs", "3101"]
CMD ["node", "dist/main.js"]

FROM runtime AS notifications
RUN test -f services/notifications/dist/main.js || { echo 'target notifications needs --build-arg PACKAGE=@nself/notifications' >&2; exit 1; }
WORKDIR /app/services/notifications
EXPOSE 3102 3112
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/nself/healthcheck.mjs", "3102"]
CMD ["node", "dist/main.js"]

# file-processing renders PDF first pages with poppler-utils and video poster frames with ffmpeg, both
# runtime tools (not build tools) found on PATH. Default: poppler-utils only (~+30 MB); Debian's
# ffmpeg adds ~500 MB, so video thumbnails are opt-in: FILE_MEDIA_PACKAGES="poppler-utils ffmpeg"
# (compose passes $FILE_MEDIA_PACKAGES). Without a tool such files are stored without thumbnails.
# Installed before the app layer so that code changes do not repeat the install.
FROM base AS file-processing
ARG FILE_MEDIA_PACKAGES="poppler-utils"
RUN if [ -n "${FILE_MEDIA_PACKAGES}" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends ${FILE_MEDIA_PACKAGES} \
      && rm -rf /var/lib/apt/lists/*; \
    fi
ENV NODE_ENV=production
COPY --from=builder /runtime/ ./
COPY --from=builder /tools/healthcheck.mjs /usr/local/lib/nself/healthcheck.mjs
USER node
RUN test -f services/file-processing/dist/main.js || { echo 'target file-processing needs --build-arg PACKAGE=@nself/file-processing' >&2; exit 1; }
WORKDIR /app/services/file-processing
EXPOSE 3104 3114
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/nself/healthcheck.mjs", "3104"]
CMD ["node", "dist/main.js"]

# jobs' `database-backup` job type streams pg_dump into S3: the worker needs pg_dump (Debian's
# postgresql-client, the same major version as compose.yaml's PostgreSQL; pg_dump refuses newer
# servers). JOBS_PACKAGES="" builds without it. Installed before the app layer.
FROM base AS jobs
ARG JOBS_PACKAGES="postgresql-client"
RUN if [ -n "${JOBS_PACKAGES}" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends ${JOBS_PACKAGES} \
      && rm -rf /var/lib/apt/lists/*; \
    fi
ENV NODE_ENV=production
COPY --from=builder /runtime/ ./
COPY --from=builder /tools/healthcheck.mjs /usr/local/lib/nself/healthcheck.mjs
USER node
RUN test -f services/jobs/dist/main.js || { echo 'target jobs needs --build-arg PACKAGE=@nself/jobs' >&2; exit 1; }
WORKDIR /app/services/jobs
EXPOSE 3105 3115
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/nself/healthcheck.mjs", "3105"]
CMD ["node", "dist/main.js"]

FROM runtime AS idme
RUN test -f services/idme/dist/main.js || { echo 'target idme needs --build-arg PACKAGE=@nself/idme' >&2; exit 1; }
WORKDIR /app/services/idme
EXPOSE 3010
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/nself/healthcheck.mjs", "3010"]
CMD ["node", "dist/main.js"]

FROM runtime AS gateway
RUN test -f gateway/dist/main.js || { echo 'target gateway needs --build-arg PACKAGE=@nself/gateway' >&2; exit 1; }
WORKDIR /app/gateway
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/usr/local/lib/nself/healthcheck.mjs", "8080"]
CMD ["node", "dist/main.js"]

# One-shot: applies every pending migration of prisma/migrations, then exits 0. It runs Prisma
# 6.19.3's WASM schema engine (prisma/bin/prisma6, the same runner the tests and each service's
# `init` use): Prisma 7's `migrate deploy` downloads a native engine at run time, which fails on
# machines and clusters without internet access. Both write the same _prisma_migrations history.
FROM base AS migrate
COPY --from=builder /runtime/ ./
RUN test -x prisma/bin/prisma6 || { echo 'target migrate needs --build-arg PACKAGE=@nself/prisma' >&2; exit 1; } \
 && chown node:node prisma
USER node
WORKDIR /app/prisma
CMD ["bin/prisma6", "migrate", "deploy"]
