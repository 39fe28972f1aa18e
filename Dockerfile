# parca-agent with parca-agent-sidecar as its entrypoint.
#   docker build --build-arg PARCA_AGENT_VERSION=v0.49.0 -t parca-agent-sidecar .
# Nothing in the final image downloads anything at run time.

ARG PARCA_AGENT_VERSION=v0.49.0
ARG NODE_VERSION=22

# The agent binary, from its official image (a static Go binary at /bin/parca-agent).
FROM ghcr.io/parca-dev/parca-agent:${PARCA_AGENT_VERSION} AS agent

# Build with the full toolchain (dev dependencies: TypeScript).
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && rm dist/.tsbuildinfo

# What both images run on: a slim Node LTS with production dependencies only.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/parca-agent-sidecar
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
ENV NODE_ENV=production

# The sidecar alone, for a container beside the official agent image:
#   docker build --target sidecar -t parca-agent-sidecar:latest-sidecar .
# It needs no agent binary and no shell. It either restarts the agent of the other container by
# signal (--agent-process; deploy/kubernetes/parca-agent-sidecar-container.yaml gives it CAP_KILL
# and nothing else), or runs the relay the agent is pointed at (--relay; in
# deploy/kubernetes/parca-agent-relay.yaml it has no capability at all).
FROM runtime AS sidecar
EXPOSE 7073 7074
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/parca-agent-sidecar/dist/cli.js", "run"]
CMD ["--help"]

# The default image: the agent bundled, the sidecar as its entrypoint
# (deploy/kubernetes/parca-agent.yaml).
FROM runtime
COPY --from=agent /bin/parca-agent /bin/parca-agent
# 7072: the sidecar's full gRPC API (bound to loopback unless --listen says otherwise);
# 7073: health only, for Kubernetes gRPC probes (--health-listen 0.0.0.0:7073).
EXPOSE 7072 7073
HEALTHCHECK --interval=30s --timeout=10s CMD ["node", "/opt/parca-agent-sidecar/dist/cli.js", "status", "--json"]
# tini reaps zombies and forwards signals; -s makes it a subreaper, since under hostPID it is not
# PID 1. The sidecar stops the agent's whole process group itself on SIGTERM.
ENTRYPOINT ["/usr/bin/tini", "-s", "--", "node", "/opt/parca-agent-sidecar/dist/cli.js", "run", "--agent", "/bin/parca-agent"]
CMD ["--relation", "/etc/parca-store", "--state-dir", "/var/lib/parca-agent-sidecar"]
