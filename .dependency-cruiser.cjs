/** Import rules: no cycles, and data flows one way through the pipeline (docs/architecture.md). */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Import cycles make the pipeline impossible to read top to bottom.",
      from: {},
      to: { circular: true },
    },
    {
      name: "relation-stands-alone",
      severity: "error",
      comment: "Reading relation data knows nothing of the store, the agent or the loop.",
      from: { path: "^src/relation/" },
      to: { path: "^src/(store|agent|reconcile|api|cli)/" },
    },
    {
      name: "stages-do-not-reach-up",
      severity: "error",
      comment: "Only reconcile ties the stages together; only cli wires.",
      from: { path: "^src/(store|agent|relation)/" },
      to: { path: "^src/(reconcile|api|cli)/" },
    },
    {
      name: "store-and-agent-are-separate-stages",
      severity: "error",
      comment: "The check and the agent runner meet only in reconcile.",
      from: { path: "^src/(store|agent)/" },
      to: { path: "^src/(agent|store)/", pathNot: "^src/$1/" },
    },
    {
      name: "delivery-stands-alone",
      severity: "error",
      comment:
        "Reading the agent's metrics knows nothing of the loop, the agent runners or the check.",
      from: { path: "^src/delivery/" },
      to: { path: "^src/(relation|store|agent|reconcile|api|cli)/" },
    },
    {
      name: "core-imports-no-stage",
      severity: "error",
      comment: "src/core holds what every stage uses; it depends on none of them.",
      from: { path: "^src/core/" },
      to: { path: "^src/(?!core/)" },
    },
    {
      name: "reconcile-meets-agent-through-narrow-interfaces",
      severity: "error",
      comment: "The loop drives the agent only through the Runner interface and flag rendering.",
      from: { path: "^src/reconcile/" },
      to: { path: "^src/agent/", pathNot: "^src/agent/(runner|flags)\\.ts$" },
    },
    {
      name: "nothing-imports-cli",
      severity: "error",
      from: { path: "^src/(?!cli)" },
      to: { path: "^src/cli" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^src/gen/" },
  },
};
