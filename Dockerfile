# syntax=docker/dockerfile:1
# alert-annotator: build with the dev toolchain, run on a slim image as a non-root user.
# Node 24 is an LTS line (supported to April 2028); override with --build-arg NODE_VERSION=…
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# Dependencies first: this layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
# DejaVu Sans: the chart uploaded into the Slack thread (src/publish/chart.ts) is drawn in it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The command's launcher (package.json "bin"): without src/ here it runs dist/.
COPY bin ./bin
# Prompt templates are read at run time (found beside dist/).
COPY prompts ./prompts
# The incidents `alert-annotator demo` runs on (found beside dist/).
COPY examples/incidents ./examples/incidents
# Read-only code, owned by root; the process runs as the image's unprivileged `node` user.
USER node
EXPOSE 8080
# /-/healthy answers without touching Redis; every ROLE serves it on PORT.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/-/healthy').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node as PID 1 gets SIGTERM directly; the service closes HTTP → worker → queue → Redis →
# telemetry within SHUTDOWN_TIMEOUT_MS (compose's stop_grace_period is longer).
ENTRYPOINT ["node", "bin/alert-annotator.js"]
CMD ["serve"]
